/* Loom runtime C API: load a compiled .loom artifact and run it.
 *
 * Stability: every symbol here is part of API version LOOM_API_VERSION. Additions keep the
 * version; any incompatible change (a changed signature, struct layout or meaning) bumps it.
 * Compare loom_api_version() with LOOM_API_VERSION to detect a mismatched library.
 *
 * Errors: every function that can fail returns a loom_status; on failure loom_last_error()
 * gives a message (naming the file, field or limit involved) that stays valid on the calling
 * thread until its next Loom call. No C++ exception ever crosses this boundary.
 *
 * Threads: a loom_model may be shared by sessions on different threads; a loom_session must be
 * used by one thread at a time. The kernel thread count is process-wide (the last set wins). */
#ifndef LOOM_LOOM_H
#define LOOM_LOOM_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* 2: loom_media gained token_budget, max_frames, video_audio and the VIDEO kind;
 *    loom_media_init, loom_media_prompt, loom_model_stop_tokens added. */
#define LOOM_API_VERSION 3

typedef enum loom_status {
  LOOM_OK = 0,
  LOOM_ERROR_INVALID_ARGUMENT = 1, /* a null pointer, out-of-range id or option */
  LOOM_ERROR_BUFFER_TOO_SMALL = 2, /* the size needed is returned through the count pointer */
  LOOM_ERROR_MODEL = 3,            /* the artifact or media cannot be used (see the message) */
  LOOM_ERROR_RUNTIME = 4,          /* a kernel failed, the context is full, ... */
  LOOM_ERROR_OUT_OF_MEMORY = 5,
  LOOM_ERROR_INTERNAL = 6
} loom_status;

typedef struct loom_model loom_model;
typedef struct loom_session loom_session;
typedef struct loom_detokenizer loom_detokenizer;
typedef struct loom_batch loom_batch;

uint32_t loom_api_version(void);
/* The message of the last failure on this thread ("" if none). */
const char *loom_last_error(void);

/* ---- model ---- */
#define LOOM_HUGE_PAGES_AS_TUNED (-1)
loom_status loom_model_open(const char *path, loom_model **model);
/* How loom_model_open_with reads the artifact. */
typedef struct loom_model_options {
  /* 0 (the default): map the file. 1: read it into anonymous memory backed by 2 MiB transparent
     huge pages: faster decode (decode reads every weight per token, and small pages cost a
     TLB miss every 4 KiB), for the time of reading the file and its size in memory.
     LOOM_HUGE_PAGES_AS_TUNED: 1 where the artifact was tuned with huge pages (loom-tune), else 0. */
  int32_t huge_page_copy;
  /* What the media of this model's prompts may declare, checked before they are decoded: pixels
     per image or video frame (0: 89,478,485, Pillow's MAX_IMAGE_PIXELS) and seconds of audio
     (0: 3600). Lower them for media from strangers (loom-serve); higher values are refused. */
  int64_t max_image_pixels;
  int32_t max_media_seconds;
} loom_model_options;
void loom_model_options_init(loom_model_options *options);
loom_status loom_model_open_with(const char *path, const loom_model_options *options,
                                 loom_model **model);
/* Checks every segment of the artifact, the weights included, against the checksum it was
   written with (opening checks the manifest, kernels and tokenizer already). Reads the whole
   file: LOOM_ERROR_MODEL names the corrupt segment. */
loom_status loom_model_verify(const loom_model *model);
void loom_model_close(loom_model *model);
int32_t loom_model_vocab_size(const loom_model *model);
int64_t loom_model_hidden_size(const loom_model *model);
int64_t loom_model_max_context(const loom_model *model);
/* The end-to-end choices the kernels this CPU runs were tuned with (loom-tune, docs/TUNING.md).
   Sessions created with threads 0 take the thread counts per phase; huge_pages is what
   LOOM_HUGE_PAGES_AS_TUNED follows; prefill_chunk is a server's prompt tokens per prefill call
   (0: the whole prompt). All zero, and tuned 0, for an artifact compiled without a record. */
typedef struct loom_model_tuning {
  int32_t tuned;
  int32_t prefill_threads, decode_threads;
  int32_t huge_pages;
  int64_t prefill_chunk;
} loom_model_tuning;
loom_status loom_model_get_tuning(const loom_model *model, loom_model_tuning *tuning);

typedef struct loom_special_tokens {
  int32_t pad, bos;
  int32_t image, audio, video;       /* soft-token placeholders; -1 when absent */
  int32_t boi, eoi, boa, eoa;        /* -1 when absent */
  int32_t eos[16];                   /* the config's eos ids */
  int32_t eos_count;
} loom_special_tokens;
loom_status loom_model_special_tokens(const loom_model *model, loom_special_tokens *tokens);
/* The tokens that end generation: the config's eos ids, <turn|> and <|tool_response> (Gemma 4's
 * generation config). Writes at most capacity ids; *count receives the number;
 * LOOM_ERROR_BUFFER_TOO_SMALL when capacity < *count. */
loom_status loom_model_stop_tokens(const loom_model *model, int32_t *ids, size_t capacity,
                                   size_t *count);

/* ---- tokenizer ---- */
/* Encodes text (special tokens are split out). Writes at most capacity ids; *count receives the
 * number of ids; LOOM_ERROR_BUFFER_TOO_SMALL when capacity < *count. */
loom_status loom_tokenize(const loom_model *model, const char *text, size_t length, int add_bos,
                          int32_t *ids, size_t capacity, size_t *count);
/* Decodes ids to UTF-8 text, NUL-terminated when it fits; *length receives the byte length
 * (without the NUL); LOOM_ERROR_BUFFER_TOO_SMALL when capacity <= *length. */
loom_status loom_detokenize(const loom_model *model, const int32_t *ids, size_t count, char *text,
                            size_t capacity, size_t *length);
/* Id of a vocabulary piece such as "<turn|>"; LOOM_ERROR_INVALID_ARGUMENT when unknown. */
loom_status loom_token_id(const loom_model *model, const char *piece, int32_t *id);

/* Streaming detokenizer: push() returns the text that became complete (never half a UTF-8
 * character); the returned pointer is valid until the next call on this detokenizer. */
loom_status loom_detokenizer_create(const loom_model *model, loom_detokenizer **detokenizer);
loom_status loom_detokenizer_push(loom_detokenizer *detokenizer, int32_t id, const char **text,
                                  size_t *length);
loom_status loom_detokenizer_finish(loom_detokenizer *detokenizer, const char **text,
                                    size_t *length);
void loom_detokenizer_destroy(loom_detokenizer *detokenizer);

/* ---- media ---- */
typedef enum loom_media_kind {
  LOOM_MEDIA_IMAGE = 1,
  LOOM_MEDIA_AUDIO = 2,
  LOOM_MEDIA_VIDEO = 3
} loom_media_kind;

/* Where a medium comes from. In-memory sources are read during the call that takes the medium
   (loom_media_token_count, loom_media_prompt, loom_session_prefill); the caller keeps them alive
   until it returns. A video comes from a file only. */
typedef enum loom_media_source {
  LOOM_MEDIA_FILE = 0,    /* path */
  LOOM_MEDIA_BYTES = 1,   /* data, size: a file's contents (PNG/JPEG; WAV/FLAC/Ogg) */
  LOOM_MEDIA_PIXELS = 2,  /* image: pixels, width, height: RGB, 3 bytes a pixel, row-major */
  LOOM_MEDIA_SAMPLES = 3  /* audio: samples, frames, channels, sample_rate: float, interleaved */
} loom_media_source;

typedef struct loom_media {
  loom_media_kind kind;
  const char *path;     /* image: PNG or JPEG; audio: WAV/FLAC/Ogg at any rate; video: any
                           container FFmpeg reads. In-memory sources: the name messages give
                           the medium (NULL: "image bytes", "audio samples", ...) */
  int32_t token_budget; /* soft tokens per image or video frame: 70, 140, 280, 560 or 1120;
                           0: the default (280 for an image, 70 per video frame) */
  int32_t max_frames;   /* video: frames sampled at most; 0: 32 */
  int32_t video_audio;  /* video: nonzero: its audio track, when it has one, follows the frames */
  loom_media_source source;
  const void *data;     /* LOOM_MEDIA_BYTES */
  size_t size;
  const uint8_t *pixels; /* LOOM_MEDIA_PIXELS */
  int32_t width, height;
  const float *samples; /* LOOM_MEDIA_SAMPLES: frames x channels floats, nominally in [-1, 1] */
  size_t frames;
  int32_t channels, sample_rate;
} loom_media;

/* A medium from a file: budget and frames 0 (the model's defaults), video_audio 1. */
void loom_media_init(loom_media *media, loom_media_kind kind, const char *path);
/* An image or audio from a file's contents in memory. */
void loom_media_init_bytes(loom_media *media, loom_media_kind kind, const void *data, size_t size);
/* An image from RGB pixels. */
void loom_media_init_pixels(loom_media *media, const uint8_t *pixels, int32_t width,
                            int32_t height);
/* Audio from samples at sample_rate Hz (resampled to the model's rate as a file would be). */
void loom_media_init_samples(loom_media *media, const float *samples, size_t frames,
                             int32_t channels, int32_t sample_rate);

/* The number of soft tokens the prompt must reserve for media (a video: all its frames' and its
 * audio track's). */
loom_status loom_media_token_count(const loom_model *model, const loom_media *media,
                                   size_t *count);
/* The prompt text that replaces media's marker (<|image|>, <|audio|>, <|video|>), as the Hugging
 * Face processor expands it: <|image> + n x <|image|> + <image|>; <|audio> + n x <|audio|> +
 * <audio|>; per video frame "mm:ss <|image>" + n x <|video|> + "<image|>" joined by spaces, then
 * the audio track. NUL-terminated when it fits; *length receives the byte length (without the
 * NUL); LOOM_ERROR_BUFFER_TOO_SMALL when capacity <= *length. */
loom_status loom_media_prompt(const loom_model *model, const loom_media *media, char *text,
                              size_t capacity, size_t *length);

/* ---- session ---- */
/* The most kernel threads a session takes; more are refused (LOOM_ERROR_INVALID_ARGUMENT). */
#define LOOM_MAX_KERNEL_THREADS 256

typedef struct loom_session_options {
  int64_t max_context; /* 0: the artifact's max_context */
  int32_t threads;     /* 0: the artifact's tuned threads per phase (loom_model_get_tuning),
                          else the kernel runtime's default; at most LOOM_MAX_KERNEL_THREADS;
                          more than the CPUs this process may use run as that many */
  uint64_t seed;       /* sampling seed */
} loom_session_options;

void loom_session_options_init(loom_session_options *options);
loom_status loom_session_create(loom_model *model, const loom_session_options *options,
                                loom_session **session);
void loom_session_destroy(loom_session *session);

/* Runs the prompt ids at the session's current position (the conversation so far stays in the
 * KV cache). media, in prompt order, fill the maximal runs of placeholder ids: each image an
 * image run, each audio an audio run, each video frame a video run (and a video's audio track
 * the next audio run). logits receives the last position's vocab_size logits, or
 * n * vocab_size (row-major) when all_logits is nonzero; logits_capacity is the buffer's length
 * in floats. logits may be NULL (all_logits 0): the LM head is not run, for a chunk of a longer
 * prompt whose logits nobody reads (at 262,144 tokens of vocabulary it reads a large matrix). */
loom_status loom_session_prefill(loom_session *session, const int32_t *ids, size_t n,
                                 const loom_media *media, size_t n_media, int all_logits,
                                 float *logits, size_t logits_capacity);
/* Runs one token; logits receives vocab_size floats. */
loom_status loom_session_decode(loom_session *session, int32_t token, float *logits,
                                size_t logits_capacity);
int64_t loom_session_position(const loom_session *session);
/* Forgets the conversation (position 0, KV cache cleared). */
loom_status loom_session_reset(loom_session *session);
/* yield(user) is called on the prefilling thread between the kernel dispatches of this session's
 * prefills (every few to a few hundred milliseconds), so that a caller serving several sessions
 * can step the others while a long prompt is prefilled: an image's soft tokens attend to each
 * other both ways, so a run of them is prefilled in one call. yield may prefill, decode and
 * batch-decode other sessions of the model; a call on this session fails. NULL removes it. */
typedef void (*loom_prefill_yield)(void *user);
loom_status loom_session_set_prefill_yield(loom_session *session, loom_prefill_yield yield,
                                           void *user);

/* ---- batched decode (continuous batching) ---- */
/* Steps several sessions of one model together: each projection, the MLP and the LM head run
   once over all their tokens, so every weight is read once per step rather than once per
   session; attention and the KV writes run per session. Sessions may join or leave between
   steps; a session is stepped by at most one batch or thread at a time. CPU artifacts only. */
loom_status loom_batch_create(loom_model *model, loom_batch **batch);
void loom_batch_destroy(loom_batch *batch);
/* One decode step: tokens[i] into sessions[i] (n distinct sessions of the batch's model), each
   advancing one position. logits receives n x vocab_size floats, row i for sessions[i]; they
   agree with loom_session_decode's to rounding (one row and several may sum in another order).
   When any session or token is refused, nothing runs and no session moves. */
loom_status loom_batch_decode(loom_batch *batch, loom_session *const *sessions,
                              const int32_t *tokens, size_t n, float *logits,
                              size_t logits_capacity);

/* ---- sampling ---- */
typedef struct loom_sampling {
  float temperature; /* <= 0: greedy */
  int32_t top_k;     /* <= 0: off */
  float top_p;       /* >= 1: off */
  int greedy;        /* nonzero: argmax regardless of the above */
} loom_sampling;

/* The model's defaults: temperature 1.0, top_k 64, top_p 0.95. */
void loom_sampling_init(loom_sampling *sampling);
/* Restarts the session's generator as loom_session_create with options.seed = seed does. */
loom_status loom_session_set_seed(loom_session *session, uint64_t seed);
/* Picks a token from n logits with the session's seeded generator. */
loom_status loom_sample(loom_session *session, const float *logits, size_t n,
                        const loom_sampling *sampling, int32_t *token);

#ifdef __cplusplus
}
#endif

#endif /* LOOM_LOOM_H */
