-- pgqueue bench: the database clock, to mark the start of a measuring window.
SELECT clock_timestamp()
