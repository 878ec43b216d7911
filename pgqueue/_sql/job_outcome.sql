-- What job.result() needs, by primary key: cheap enough for a back-off poll.
SELECT state, result, last_error FROM pgqueue.jobs WHERE id = %(id)s
