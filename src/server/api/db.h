/* The database side: a fixed pool of worker threads, each owning one libpq connection, fed by a
 * FIFO of jobs. A handler that needs Postgres submits a job; the request is suspended until the
 * worker has replied, so the epoll thread never blocks on the database.
 *
 * Connections are opened lazily and re-opened whenever they are found broken (checked before
 * every job, so a Postgres restart costs no failed request once it is back); while Postgres is
 * unreachable, jobs get 503 "database_unavailable" without running.
 */
#ifndef ESYNC_SERVER_DB_H
#define ESYNC_SERVER_DB_H

#include <libpq-fe.h>
#include <stdbool.h>

#include "http/http.h"

typedef struct esync_db esync_db;

/* Runs on a worker with a live connection (idle, no transaction open; NULL only for a probe job
 * while the database is unreachable). Must reply to r. */
typedef void (*esync_db_job_fn)(esync_req *r, PGconn *conn, void *arg);

/* Connects once to check that Postgres is reachable; returns NULL with the reason in err when it
 * is not (the caller exits: a server that starts without its database hides the real error). */
esync_db *esync_db_start(const char *url, unsigned workers, char *err, size_t errsz);

/* Suspends r and queues fn(r, conn, arg); free_arg(arg) runs after fn (or instead of it). Must be
 * called from the dispatch function. After esync_db_stop has begun, replies 503 instead. */
void esync_db_submit(esync_db *db, esync_req *r, esync_db_job_fn fn, void *arg,
                     void (*free_arg)(void *));

/* As esync_db_submit, but fn also runs while Postgres is unreachable, with conn NULL (a health
 * check answers that itself instead of the 503 envelope). */
void esync_db_submit_probe(esync_db *db, esync_req *r, esync_db_job_fn fn, void *arg,
                           void (*free_arg)(void *));

/* Runs the queued jobs to completion, stops the workers, closes the connections, frees db. */
void esync_db_stop(esync_db *db);

/* Opens a connection with the server's session settings (UTC, application_name). Returns NULL
 * with the libpq message in err on failure. */
PGconn *esync_db_connect(const char *url, char *err, size_t errsz);

/* Replies to r for a failed query result: 503 when the connection is gone, 409 for a unique
 * violation, 400 for input Postgres refused, 500 otherwise (details logged, not sent). */
void esync_db_reply_error(esync_req *r, PGconn *conn, const PGresult *res);

/* True when res is a failure caused by a lost or refused connection. */
bool esync_db_is_connection_error(PGconn *conn, const PGresult *res);

#endif
