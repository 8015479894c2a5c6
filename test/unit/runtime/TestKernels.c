/* Hand-written stand-ins for generated kernels, with the same calling convention
 * (`<symbol>_argv(void **)`, halide_buffer_t* buffers, int32_t* scalars). Each checks the
 * buffer layout the runtime built (dim 0 innermost, dense strides) and returns nonzero on any
 * mismatch, so the session test also tests the executor's buffers. */
#include <HalideRuntime.h>
#include <stdint.h>

#define F(b) ((float *)(b)->host)
#define I(b) ((int32_t *)(b)->host)

/* A dense row-major [rows, width] view: 2-D, or 3-D [rows, 1, width]. */
static int dense(const halide_buffer_t *b, int rows, int width, int code) {
  if (b->host == 0 || b->type.code != code)
    return 0;
  if (b->dimensions == 2)
    return b->dim[0].min == 0 && b->dim[0].extent == width && b->dim[0].stride == 1 &&
           b->dim[1].min == 0 && b->dim[1].extent == rows && b->dim[1].stride == width;
  if (b->dimensions == 3)
    return b->dim[0].extent == width && b->dim[0].stride == 1 && b->dim[1].extent == 1 &&
           b->dim[1].stride == width && b->dim[2].extent == rows && b->dim[2].stride == width;
  return 0;
}
static int rows(const halide_buffer_t *b) { return b->dim[b->dimensions - 1].extent; }

/* ids i32[T], table f32[V, H] -> out f32[T, H] = table[ids] */
int test_embed_argv(void **a) {
  halide_buffer_t *ids = a[0], *table = a[1], *out = a[2];
  int T = ids->dim[0].extent, V = table->dim[1].extent, H = table->dim[0].extent;
  if (ids->dimensions != 1 || ids->dim[0].stride != 1 || !dense(table, V, H, halide_type_float) ||
      !dense(out, T, H, halide_type_float))
    return -1;
  for (int t = 0; t < T; ++t)
    for (int h = 0; h < H; ++h)
      F(out)[t * H + h] = F(table)[I(ids)[t] * H + h];
  return 0;
}

/* patches f32[T, 12], positions i32[T, 2] -> out f32[T, 4] = patch[0..3] + 100 col + 1000 row */
int test_image_argv(void **a) {
  halide_buffer_t *patches = a[0], *positions = a[1], *out = a[2];
  int T = rows(patches);
  if (!dense(patches, T, 12, halide_type_float) || !dense(positions, T, 2, halide_type_int) ||
      !dense(out, T, 4, halide_type_float))
    return -1;
  for (int t = 0; t < T; ++t)
    for (int h = 0; h < 4; ++h)
      F(out)[t * 4 + h] = F(patches)[t * 12 + h] + 100.0f * (float)I(positions)[t * 2] +
                          1000.0f * (float)I(positions)[t * 2 + 1];
  return 0;
}

/* frames f32[T, 8] -> out f32[T, 4] = frame[h] + frame[h + 4]; fails (-7) on frame[0] >= 0.5 */
int test_audio_argv(void **a) {
  halide_buffer_t *frames = a[0], *out = a[1];
  int T = rows(frames);
  if (!dense(frames, T, 8, halide_type_float) || !dense(out, T, 4, halide_type_float))
    return -1;
  for (int t = 0; t < T; ++t) {
    if (F(frames)[t * 8] >= 0.5f)
      return -7;
    for (int h = 0; h < 4; ++h)
      F(out)[t * 4 + h] = F(frames)[t * 8 + h] + F(frames)[t * 8 + h + 4];
  }
  return 0;
}

/* x f32[T, 4] -> keys [T, 1, 4] = x, values [T, 1, 4] = 2x */
int test_project_argv(void **a) {
  halide_buffer_t *x = a[0], *keys = a[1], *values = a[2];
  int T = rows(x);
  if (!dense(x, T, 4, halide_type_float) || !dense(keys, T, 4, halide_type_float) ||
      !dense(values, T, 4, halide_type_float))
    return -1;
  for (int i = 0; i < T * 4; ++i) {
    F(keys)[i] = F(x)[i];
    F(values)[i] = 2.0f * F(x)[i];
  }
  return 0;
}

/* keys [T, 1, 4], blockIds i32[T], startPos, cacheK [cap, 1, 4], cacheV [cap, 1, 4] -> out [T, 4]:
 * sum over the window (cap positions up to the query) of key + value, from the cache for
 * positions before startPos and from the call (value = 2 key) after; + 10000 (block + 1). */
int test_attend_argv(void **a) {
  halide_buffer_t *keys = a[0], *blocks = a[1], *cacheK = a[3], *cacheV = a[4], *out = a[5];
  int32_t start = *(int32_t *)a[2];
  int T = rows(keys), cap = rows(cacheK);
  if (!dense(keys, T, 4, halide_type_float) || blocks->dim[0].extent != T ||
      !dense(cacheK, cap, 4, halide_type_float) || !dense(cacheV, cap, 4, halide_type_float) ||
      !dense(out, T, 4, halide_type_float))
    return -1;
  for (int t = 0; t < T; ++t) {
    int pos = start + t, first = pos - cap + 1 < 0 ? 0 : pos - cap + 1;
    for (int h = 0; h < 4; ++h) {
      float sum = 0.0f;
      for (int p = first; p <= pos; ++p)
        sum += p < start ? F(cacheK)[(p % cap) * 4 + h] + F(cacheV)[(p % cap) * 4 + h]
                         : 3.0f * F(keys)[(p - start) * 4 + h];
      if (I(blocks)[t] >= 0)
        sum += 10000.0f * (float)(I(blocks)[t] + 1);
      F(out)[t * 4 + h] = sum;
    }
  }
  return 0;
}

/* x f32[T, H], table f32[V, H] -> logits f32[T, V] = x table^T */
int test_head_argv(void **a) {
  halide_buffer_t *x = a[0], *table = a[1], *out = a[2];
  int T = rows(x), V = table->dim[1].extent, H = table->dim[0].extent;
  if (!dense(x, T, H, halide_type_float) || !dense(out, T, V, halide_type_float))
    return -1;
  for (int t = 0; t < T; ++t)
    for (int v = 0; v < V; ++v) {
      float sum = 0.0f;
      for (int h = 0; h < H; ++h)
        sum += F(x)[t * H + h] * F(table)[v * H + h];
      F(out)[t * V + v] = sum;
    }
  return 0;
}

/* positions i32[T] -> out f32[T, 2] = (position, T): T tells how many rows one call covered */
int test_positions_argv(void **a) {
  halide_buffer_t *positions = a[0], *out = a[1];
  int T = positions->dim[0].extent;
  if (positions->dimensions != 1 || positions->dim[0].stride != 1 ||
      positions->type.code != halide_type_int || !dense(out, T, 2, halide_type_float))
    return -1;
  for (int t = 0; t < T; ++t) {
    F(out)[t * 2] = (float)I(positions)[t];
    F(out)[t * 2 + 1] = (float)T;
  }
  return 0;
}

static int threads_set = 0;
int halide_set_num_threads(int n) {
  int old = threads_set;
  threads_set = n;
  return old;
}

/* Halide's argument metadata (`<symbol>_metadata`), which the runtime checks every dispatch
 * against at load: name, kind, dimensions and element type, in argv order. */
#define TYPE_F32 {halide_type_float, 32, 1}
#define TYPE_I32 {halide_type_int, 32, 1}
#define IN(name, dims, type) {name, halide_argument_kind_input_buffer, dims, TYPE_##type, 0, 0, 0, 0, 0}
#define OUT(name, dims, type) {name, halide_argument_kind_output_buffer, dims, TYPE_##type, 0, 0, 0, 0, 0}
#define SCALAR(name, type) {name, halide_argument_kind_input_scalar, 0, TYPE_##type, 0, 0, 0, 0, 0}
#define METADATA(symbol, ...)                                                                   \
  static const struct halide_filter_argument_t symbol##_arguments[] = {__VA_ARGS__};            \
  static const struct halide_filter_metadata_t symbol##_description = {                         \
      1, sizeof symbol##_arguments / sizeof symbol##_arguments[0], symbol##_arguments,         \
      "x86-64-linux", #symbol};                                                                 \
  const struct halide_filter_metadata_t *symbol##_metadata(void) { return &symbol##_description; }

METADATA(test_embed, IN("ids", 1, I32), IN("table", 2, F32), OUT("out", 2, F32))
METADATA(test_image, IN("patches", 2, F32), IN("positions", 2, I32), OUT("out", 2, F32))
METADATA(test_audio, IN("frames", 2, F32), OUT("out", 2, F32))
METADATA(test_project, IN("x", 2, F32), OUT("keys", 3, F32), OUT("values", 3, F32))
METADATA(test_attend, IN("keys", 3, F32), IN("blocks", 1, I32), SCALAR("start", I32),
         IN("cache_keys", 3, F32), IN("cache_values", 3, F32), OUT("out", 2, F32))
METADATA(test_head, IN("x", 2, F32), IN("table", 2, F32), OUT("logits", 2, F32))
METADATA(test_positions, IN("positions", 1, I32), OUT("out", 2, F32))
