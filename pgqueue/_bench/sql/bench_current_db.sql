-- pgqueue bench: the name of the database the bench connection is on.
SELECT current_database()
