/*
 * esync_replay.h — fixture replay, for tests and debugging (replay.c). Not part of the API an
 * application uses: tests/tools/replay_main.c (native) and the wasm bridge (Module.replay) run
 * the golden fixtures through it, and their transcripts must be byte-identical.
 */
#ifndef ESYNC_REPLAY_H
#define ESYNC_REPLAY_H

#include "esync.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Replays a recorded fixture (the JSON format of tests/fixtures/README.md) on a fresh replica at
 * `path` and returns its transcript: one JSON line per step (the request asked for, the ingest
 * code, the change sets) and a final dump of the replica. Returns ESYNC_OK when every
 * expectation in the fixture held, ESYNC_ESTATE when one failed (the transcript says which). */
int esync_replay(const char *fixture, size_t fixture_len, const char *path, char **transcript,
                 size_t *transcript_len);

#ifdef __cplusplus
}
#endif
#endif /* ESYNC_REPLAY_H */
