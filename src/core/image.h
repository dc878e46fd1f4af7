/*
 * image.h — a snapshot response as a replica image (image.c).
 */
#ifndef ESYNC_IMAGE_H
#define ESYNC_IMAGE_H

#include "internal.h"

/* Applies r, whose rows are in the replica image r->image (esync.h), to shape s: the image is
 * attached (the open batch commits first, a checkpoint whose events go to out, when
 * ESYNC_IMAGES_MAX are attached already), checked against the response's schema rs (or the
 * batch's, or the committed one, when rs has no columns), and its rows copied into the shape's
 * batch (opened when none is), with the response's handle, offset and size: the caller commits
 * it as after a JSON response. On error the batch is rolled back, nothing of it written; the
 * image stays attached until the batch ends (batch.c). */
int esync__image_apply(esync *e, esync_shape *s, const esync_response *r, const esync_schema *rs,
                       esync_buf *out);

#endif
