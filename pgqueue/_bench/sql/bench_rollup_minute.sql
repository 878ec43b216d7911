-- pgqueue bench: the start of the whole minute that ended 2 minutes before now.
SELECT date_bin('1 minute', now() - interval '3 minutes', 'epoch'::timestamptz)
