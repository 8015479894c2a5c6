// Tests the executor and session end to end on a tiny hand-made artifact whose "kernels"
// (TestKernels.c) compute something simple enough to reproduce here: embeddings, media
// embedding into placeholder runs, block ids, a ring KV cache across calls, all-row logits,
// the C API, and the errors for bad prompts, media, limits and failing kernels.
#include "loom/ArtifactFormat.h"
#include "loom/Checksum.h"
#include "loom/Error.h"
#include "loom/Runtime/DecodeBatch.h"
#include "loom/Runtime/Executor.h"
#include "loom/Runtime/CpuFeatures.h"
#include "loom/Runtime/ImageDecode.h"
#include "loom/Runtime/KernelThreadPool.h"
#include "loom/Runtime/Model.h"
#include "loom/Runtime/Session.h"
#include "loom/Schema/loom_generated.h"
#include "ManifestEditing.h"
#include "loom/loom.h"

#include <gtest/gtest.h>
#include <png.h>
#include <sndfile.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <iterator>
#include <unistd.h>

namespace fb = loom::fb;

namespace {

constexpr int kVocab = 16, kHidden = 4, kCapacity = 4, kMaxContext = 12;
constexpr int32_t kImage = 10, kAudio = 11, kVideo = 12, kPad = 0;

float tableAt(int v, int h) { return static_cast<float>(v) * 0.25f + static_cast<float>(h) * 0.125f - 1.0f; }

std::string tempPath(const std::string &name) {
  return ::testing::TempDir() + "/loom_session_" + std::to_string(::getpid()) + "_" + name;
}

std::string readFile(const std::string &path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

using loom::test::value;

constexpr int64_t T = static_cast<int64_t>(fb::DimSymbol::Tokens);

fb::CommandUnion dispatch(uint32_t kernel, std::vector<std::unique_ptr<fb::ValueT>> args) {
  fb::DispatchT d;
  d.kernel = kernel;
  d.args = std::move(args);
  fb::CommandUnion u;
  u.Set(std::move(d));
  return u;
}

template <typename... V>
std::vector<std::unique_ptr<fb::ValueT>> values(V... v) {
  std::vector<std::unique_ptr<fb::ValueT>> out;
  (out.push_back(std::move(v)), ...);
  return out;
}

struct ArtifactOptions {
  std::vector<std::string> cpuFeatures = {"sse2"};
  // More kernel sets ("set-1", ...: these CPU features, the same library), and the first set's
  // library replaced by bytes that are no library, so that loading it fails.
  std::vector<std::vector<std::string>> extraSets;
  bool brokenFirstLibrary = false;
  std::string extraKernel; // a symbol the library does not export
  std::string tokenizerJson; // instead of the 16-piece toy vocabulary
  int vocab = kVocab;
  std::function<void(fb::ModelT &)> edit; // last change to the manifest before it is written
};

// Writes the tiny artifact and returns its path.
std::string writeArtifact(const std::string &name, const ArtifactOptions &options = {}) {
  using K = fb::ValueKind;
  using D = fb::DType;
  fb::ModelT m;
  m.format_version = loom::kArtifactFormatVersion;
  m.min_runtime_version = 1;
  m.producer = "SessionTest";
  m.max_context = kMaxContext;
  m.weight_dtype = D::F32;
  auto config = std::make_unique<fb::ModelConfigT>();
  config->model_type = "test";
  const int vocabSize = options.vocab;
  config->vocab_size = vocabSize;
  config->hidden_size = kHidden;
  config->pad_token_id = kPad;
  config->bos_token_id = 2;
  config->eos_token_ids = {1};
  config->image_token_id = kImage;
  config->audio_token_id = kAudio;
  config->video_token_id = kVideo;
  config->boi_token_id = 13;
  config->eoi_token_id = 14;
  config->boa_token_id = 15;
  config->eoa_token_id = 15;
  config->has_vision = true;
  config->has_audio = true;
  if (vocabSize > kVocab) { // Gemma 4's special ids, for use with its tokenizer
    config->eos_token_ids = {1, 106, 50};
    config->image_token_id = 258880;
    config->audio_token_id = 258881;
    config->video_token_id = 258884;
    config->boi_token_id = 255999;
    config->eoi_token_id = 258882;
    config->boa_token_id = 256000;
    config->eoa_token_id = 258883;
  }
  config->model_patch_size = 2;
  config->audio_embed_dim = 8;
  m.config = std::move(config);
  m.target = std::make_unique<fb::TargetT>();
  m.target->name = "test";
  m.target->cpu_features = options.cpuFeatures;

  // Segment contents.
  std::string weights(vocabSize * kHidden * sizeof(float), '\0');
  for (int v = 0; v < vocabSize; ++v)
    for (int h = 0; h < kHidden; ++h) {
      float x = tableAt(v, h);
      std::memcpy(&weights[(v * kHidden + h) * sizeof(float)], &x, sizeof x);
    }
  std::string kernels = readFile(LOOM_TEST_KERNELS);
  std::string vocab;
  for (int i = 0; i < kVocab; ++i)
    vocab += (i ? "," : "") + std::string("\"") + (i < 3 ? std::string(i == 0 ? "<pad>" : i == 1 ? "<eos>" : "<bos>")
                                                         : std::string(1, static_cast<char>('a' + i - 3))) + "\":" + std::to_string(i);
  std::string tokenizer = "{\"model\": {\"type\": \"BPE\", \"vocab\": {" + vocab + "}, \"merges\": []}}";
  if (!options.tokenizerJson.empty())
    tokenizer = options.tokenizerJson;
  std::string broken = "not a kernel library";
  std::vector<std::string *> contents = {&weights, options.brokenFirstLibrary ? &broken : &kernels,
                                         &tokenizer};
  std::vector<std::string> names = {"weights", "kernels", "tokenizer"};
  for (size_t i = 0; i < options.extraSets.size(); ++i) {
    contents.push_back(&kernels);
    names.push_back("kernels:set-" + std::to_string(i + 1));
  }
  for (size_t i = 0; i < names.size(); ++i) {
    auto s = std::make_unique<fb::SegmentT>();
    s->name = names[i];
    s->size = contents[i]->size();
    m.segments.push_back(std::move(s));
  }
  m.kernel_library_segment = 1;
  m.tokenizer_segment = 2;
  if (!options.extraSets.empty()) {
    auto first = std::make_unique<fb::KernelSetT>();
    first->target = std::make_unique<fb::TargetT>(*m.target);
    first->library_segment = 1;
    m.kernel_sets.push_back(std::move(first));
    for (size_t i = 0; i < options.extraSets.size(); ++i) {
      auto set = std::make_unique<fb::KernelSetT>();
      set->target = std::make_unique<fb::TargetT>();
      set->target->name = "set-" + std::to_string(i + 1);
      set->target->cpu_features = options.extraSets[i];
      set->library_segment = uint32_t(3 + i);
      m.kernel_sets.push_back(std::move(set));
    }
  }

  auto tensor = std::make_unique<fb::TensorT>();
  tensor->name = "embed";
  tensor->dtype = D::F32;
  tensor->shape = {vocabSize, kHidden};
  tensor->segment = 0;
  tensor->offset = 0;
  tensor->size = weights.size();
  m.tensors.push_back(std::move(tensor));

  for (const char *symbol :
       {"test_embed", "test_image", "test_audio", "test_project", "test_attend", "test_head",
        "test_positions"}) {
    auto k = std::make_unique<fb::KernelT>();
    k->symbol = symbol;
    k->kind = "test";
    m.kernels.push_back(std::move(k));
  }
  if (!options.extraKernel.empty()) {
    auto k = std::make_unique<fb::KernelT>();
    k->symbol = options.extraKernel;
    m.kernels.push_back(std::move(k));
  }

  auto kv = std::make_unique<fb::KvCacheLayerT>();
  kv->kind = fb::LayerKind::Sliding;
  kv->capacity = kCapacity;
  kv->kv_heads = 1;
  kv->head_dim = kHidden;
  kv->dtype = D::F32;
  m.kv_cache.push_back(std::move(kv));

  auto entry = [&](const char *name, uint64_t arena) {
    auto e = std::make_unique<fb::EntryPointT>();
    e->name = name;
    e->arena_bytes_per_token = arena;
    return e;
  };
  std::vector<int64_t> embedShape = {vocabSize, kHidden};
  auto embedText = entry("embed_text", 0);
  embedText->inputs = values(value(K::Input, 0, D::I32, {T}));
  embedText->outputs = values(value(K::Output, 0, D::F32, {T, kHidden}));
  embedText->commands.push_back(dispatch(0, values(value(K::Input, 0, D::I32, {T}),
                                                   value(K::Weight, 0, D::F32, embedShape),
                                                   value(K::Output, 0, D::F32, {T, kHidden}))));
  auto embedImage = entry("embed_image", 0);
  embedImage->inputs = values(value(K::Input, 0, D::F32, {T, 12}), value(K::Input, 1, D::I32, {T, 2}));
  embedImage->outputs = values(value(K::Output, 0, D::F32, {T, kHidden}));
  embedImage->commands.push_back(dispatch(1, values(value(K::Input, 0, D::F32, {T, 12}),
                                                    value(K::Input, 1, D::I32, {T, 2}),
                                                    value(K::Output, 0, D::F32, {T, kHidden}))));
  auto embedAudio = entry("embed_audio", 0);
  embedAudio->inputs = values(value(K::Input, 0, D::F32, {T, 8}));
  embedAudio->outputs = values(value(K::Output, 0, D::F32, {T, kHidden}));
  embedAudio->commands.push_back(dispatch(2, values(value(K::Input, 0, D::F32, {T, 8}),
                                                    value(K::Output, 0, D::F32, {T, kHidden}))));
  const uint64_t row = kHidden * sizeof(float);
  auto decoder = entry("decoder", 2 * row);
  decoder->inputs = values(value(K::Input, 0, D::F32, {T, kHidden}), value(K::Input, 1, D::I32, {T}));
  decoder->outputs = values(value(K::Output, 0, D::F32, {T, kHidden}));
  decoder->commands.push_back(dispatch(3, values(value(K::Input, 0, D::F32, {T, kHidden}),
                                                 value(K::Arena, 0, D::F32, {T, 1, kHidden}, 0),
                                                 value(K::Arena, 0, D::F32, {T, 1, kHidden}, row))));
  decoder->commands.push_back(dispatch(
      4, values(value(K::Arena, 0, D::F32, {T, 1, kHidden}, 0), value(K::Input, 1, D::I32, {T}),
                value(K::StartPosition, 0, D::I32, {}),
                value(K::KvKeys, 0, D::F32, {kCapacity, 1, kHidden}),
                value(K::KvValues, 0, D::F32, {kCapacity, 1, kHidden}),
                value(K::Output, 0, D::F32, {T, kHidden}))));
  {
    fb::KvWriteT write;
    write.layer = 0;
    write.keys = value(K::Arena, 0, D::F32, {T, 1, kHidden}, 0);
    write.values = value(K::Arena, 0, D::F32, {T, 1, kHidden}, row);
    fb::CommandUnion u;
    u.Set(std::move(write));
    decoder->commands.push_back(std::move(u));
  }
  auto head = entry("lm_head", 0);
  head->inputs = values(value(K::Input, 0, D::F32, {T, kHidden}));
  head->outputs = values(value(K::Output, 0, D::F32, {T, vocabSize}));
  head->commands.push_back(dispatch(5, values(value(K::Input, 0, D::F32, {T, kHidden}),
                                              value(K::Weight, 0, D::F32, embedShape),
                                              value(K::Output, 0, D::F32, {T, vocabSize}))));
  m.entry_points.push_back(std::move(embedText));
  m.entry_points.push_back(std::move(embedImage));
  m.entry_points.push_back(std::move(embedAudio));
  m.entry_points.push_back(std::move(decoder));
  m.entry_points.push_back(std::move(head));
  // Not a model's entry: the executor's TokenPositions, seen through test_positions.
  auto positions = entry("token_positions", 0);
  positions->outputs = values(value(K::Output, 0, D::F32, {T, 2}));
  positions->commands.push_back(dispatch(6, values(value(K::TokenPositions, 0, D::I32, {T}),
                                                   value(K::Output, 0, D::F32, {T, 2}))));
  m.entry_points.push_back(std::move(positions));

  if (options.edit)
    options.edit(m);
  for (size_t i = 0; i < m.segments.size(); ++i)
    m.segments[i]->checksum = loom::artifactChecksum(contents[i]->data(), contents[i]->size());
  // Lay out: segment offsets do not change the manifest size once nonzero.
  flatbuffers::FlatBufferBuilder builder;
  for (int pass = 0; pass < 3; ++pass) {
    builder.Clear();
    fb::FinishModelBuffer(builder, fb::Model::Pack(builder, &m));
    uint64_t offset = loom::alignUp(sizeof(loom::ArtifactPreamble) + builder.GetSize(), 4096);
    for (size_t i = 0; i < m.segments.size(); ++i) {
      m.segments[i]->offset = offset;
      offset = loom::alignUp(offset + m.segments[i]->size, 4096);
    }
  }
  builder.Clear();
  fb::FinishModelBuffer(builder, fb::Model::Pack(builder, &m));
  std::string file(sizeof(loom::ArtifactPreamble), '\0');
  file.append(reinterpret_cast<const char *>(builder.GetBufferPointer()), builder.GetSize());
  for (size_t i = 0; i < m.segments.size(); ++i) {
    EXPECT_GE(m.segments[i]->offset, file.size());
    file.resize(m.segments[i]->offset, '\0');
    file += *contents[i];
  }
  loom::ArtifactPreamble preamble{};
  std::memcpy(preamble.magic, loom::kArtifactMagic, sizeof preamble.magic);
  preamble.formatVersion = loom::kArtifactFormatVersion;
  preamble.manifestOffset = sizeof preamble;
  preamble.manifestSize = builder.GetSize();
  preamble.fileSize = file.size();
  preamble.manifestChecksum = loom::artifactChecksum(builder.GetBufferPointer(), builder.GetSize());
  std::memcpy(&file[0], &preamble, sizeof preamble);
  std::string path = tempPath(name);
  std::ofstream(path, std::ios::binary) << file;
  return path;
}

// The same computation in plain C++: hidden rows in, logits of every position out.
struct Reference {
  std::vector<std::vector<float>> keys; // per position
  std::vector<std::vector<float>> run(const std::vector<std::vector<float>> &hidden,
                                      const std::vector<int32_t> &blocks) {
    std::vector<std::vector<float>> logits;
    for (size_t t = 0; t < hidden.size(); ++t) {
      keys.push_back(hidden[t]);
      int pos = static_cast<int>(keys.size()) - 1;
      std::vector<float> out(kHidden, 0.0f);
      for (int h = 0; h < kHidden; ++h) {
        for (int p = std::max(0, pos - kCapacity + 1); p <= pos; ++p)
          out[h] += 3.0f * keys[p][h];
        if (blocks[t] >= 0)
          out[h] += 10000.0f * static_cast<float>(blocks[t] + 1);
      }
      std::vector<float> row(kVocab, 0.0f);
      for (int v = 0; v < kVocab; ++v)
        for (int h = 0; h < kHidden; ++h)
          row[v] += out[h] * tableAt(v, h);
      logits.push_back(row);
    }
    return logits;
  }
  static std::vector<float> text(int32_t id) {
    std::vector<float> row(kHidden);
    for (int h = 0; h < kHidden; ++h)
      row[h] = tableAt(id, h);
    return row;
  }
};

void expectRow(const float *got, const std::vector<float> &want, const std::string &what) {
  for (int v = 0; v < kVocab; ++v)
    ASSERT_NEAR(got[v], want[v], 1e-3f * (1.0f + std::fabs(want[v]))) << what << " logit " << v;
}

std::string errorOf(const std::function<void()> &body) {
  try {
    body();
  } catch (const loom::Error &e) {
    return e.what();
  }
  return "";
}

void writePng4x2(const std::string &path) {
  FILE *file = std::fopen(path.c_str(), "wb");
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, nullptr, nullptr, nullptr);
  png_infop info = png_create_info_struct(png);
  png_init_io(png, file);
  png_set_IHDR(png, info, 4, 2, 8, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE,
               PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  png_write_info(png, info);
  for (int y = 0; y < 2; ++y) {
    uint8_t row[12];
    for (int i = 0; i < 12; ++i)
      row[i] = static_cast<uint8_t>(y * 12 + i);
    png_write_row(png, row);
  }
  png_write_end(png, nullptr);
  png_destroy_write_struct(&png, &info);
  std::fclose(file);
}

// The patches of writePng4x2's pixels as the session takes them (patch 2, no resizing: image
// files are resized to a token budget of at least 70 patches, too many for this tiny model).
loom::ImagePatches patches4x2(const std::string &path) {
  loom::ImagePatches out;
  out.path = path;
  out.width = 4, out.height = 2, out.columns = 2, out.rows = 1;
  out.patchSize = 2, out.patchDim = 12, out.count = 2;
  for (int c = 0; c < 2; ++c) {
    for (int y = 0; y < 2; ++y)
      for (int x = 2 * c; x < 2 * c + 2; ++x)
        for (int ch = 0; ch < 3; ++ch)
          out.patches.push_back(static_cast<float>(y * 12 + x * 3 + ch) / 255.0f);
    out.positions.insert(out.positions.end(), {c, 0});
  }
  return out;
}

void writeWav(const std::string &path, const std::vector<short> &samples) {
  SF_INFO info{};
  info.samplerate = 16000;
  info.channels = 1;
  info.format = SF_FORMAT_WAV | SF_FORMAT_PCM_16;
  SNDFILE *file = sf_open(path.c_str(), SFM_WRITE, &info);
  sf_write_short(file, samples.data(), static_cast<sf_count_t>(samples.size()));
  sf_close(file);
}

class SessionTest : public ::testing::Test {
protected:
  static void SetUpTestSuite() {
    artifact = new std::string(writeArtifact("tiny.loom"));
    // LOOM_TEST_ARTIFACT_OUT=FILE keeps a copy of the tiny artifact, to try loom-run by hand.
    // With LOOM_TEST_TOKENIZER=tokenizer.json the copy uses that tokenizer and its vocabulary.
    if (const char *keep = std::getenv("LOOM_TEST_ARTIFACT_OUT")) {
      std::string source = *artifact;
      if (const char *tokenizer = std::getenv("LOOM_TEST_TOKENIZER")) {
        ArtifactOptions options;
        options.tokenizerJson = readFile(tokenizer);
        options.vocab = 262144;
        source = writeArtifact("real-tokenizer.loom", options);
      }
      std::ofstream(keep, std::ios::binary) << readFile(source);
    }
    image = new std::string(tempPath("image.png"));
    writePng4x2(*image);
    audio = new std::string(tempPath("audio.wav"));
    std::vector<short> samples(20);
    for (int i = 0; i < 20; ++i)
      samples[i] = static_cast<short>(i * 300);
    writeWav(*audio, samples);
  }
  static void TearDownTestSuite() {
    for (std::string *p : {artifact, image, audio}) {
      std::remove(p->c_str());
      delete p;
    }
  }
  static std::string *artifact, *image, *audio;
};
std::string *SessionTest::artifact, *SessionTest::image, *SessionTest::audio;

} // namespace

// Prefills text `ids` (every position's logits) and checks each row against `ref`, which then
// holds their keys.
void expectTextPrefill(loom::Session &session, const std::vector<int32_t> &ids, Reference &ref) {
  std::vector<float> logits(ids.size() * kVocab);
  session.prefill(ids, std::vector<loom::MediaInput>{}, true, logits.data());
  std::vector<std::vector<float>> hidden;
  for (int32_t id : ids)
    hidden.push_back(Reference::text(id));
  auto want = ref.run(hidden, std::vector<int32_t>(ids.size(), -1));
  for (size_t t = 0; t < ids.size(); ++t)
    expectRow(logits.data() + t * kVocab, want[t], "prefill row " + std::to_string(t));
}

TEST_F(SessionTest, TextPrefillThenDecodeAcrossTheRing) {
  auto model = loom::Model::open(*artifact);
  EXPECT_EQ(model->vocabSize(), kVocab);
  EXPECT_EQ(model->patchSize(), 2);
  EXPECT_EQ(model->audioFrameSize(), 8);
  loom::Session session(model, {});
  Reference ref;
  expectTextPrefill(session, {2, 5, 7}, ref);
  EXPECT_EQ(session.position(), 3);
  // Decode past the 4-slot ring: positions 3..8.
  std::vector<float> step(kVocab);
  for (int32_t token : {4, 9, 3, 8, 6, 5}) {
    session.decode(token, step.data());
    auto w = ref.run({Reference::text(token)}, {-1});
    expectRow(step.data(), w[0], "decode at " + std::to_string(session.position() - 1));
  }
  EXPECT_EQ(session.position(), 9);
  // Last-row-only prefill continues the same cache.
  std::vector<float> last(kVocab);
  session.prefill({7, 3}, std::vector<loom::MediaInput>{}, false, last.data());
  auto w = ref.run({Reference::text(7), Reference::text(3)}, {-1, -1});
  expectRow(last.data(), w[1], "second prefill");
  // 11 of 12 positions used: 2 more tokens do not fit, 1 does.
  std::string message = errorOf([&] { session.prefill({3, 4}, std::vector<loom::MediaInput>{}, false, last.data()); });
  EXPECT_NE(message.find("max_context 12"), std::string::npos) << message;
  session.decode(3, step.data());
  message = errorOf([&] { session.decode(3, step.data()); });
  EXPECT_NE(message.find("max_context 12"), std::string::npos) << message;
  // Reset starts over with a clean cache.
  session.reset();
  Reference fresh;
  expectTextPrefill(session, {2, 5, 7}, fresh);
}

TEST_F(SessionTest, BatchedDecodeStepsEachSessionAsAlone) {
  // Three conversations at different positions, stepped together past their 4-slot rings, in
  // changing batches (joining, leaving, reordered); each row must be its own reference's.
  auto model = loom::Model::open(*artifact);
  std::vector<std::unique_ptr<loom::Session>> sessions;
  std::vector<Reference> refs(3);
  const std::vector<std::vector<int32_t>> prompts = {{2, 5, 7}, {2, 9}, {2, 3, 4, 6, 8}};
  for (size_t i = 0; i < prompts.size(); ++i) {
    sessions.push_back(std::make_unique<loom::Session>(model, loom::SessionOptions{}));
    expectTextPrefill(*sessions[i], prompts[i], refs[i]);
  }
  loom::DecodeBatch batch(model);
  const std::vector<std::vector<size_t>> steps = {{0, 1, 2}, {2, 0}, {1}, {0, 1, 2}, {1, 2, 0}};
  const int32_t plain[] = {3, 4, 5, 6, 7, 8, 9, 13, 14, 15}; // not media placeholders
  size_t drawn = 0;
  for (const std::vector<size_t> &members : steps) {
    std::vector<loom::Session *> batchSessions;
    std::vector<int32_t> tokens;
    for (size_t i : members) {
      batchSessions.push_back(sessions[i].get());
      tokens.push_back(plain[drawn++ * 7 % 10]);
    }
    std::vector<float> logits(members.size() * kVocab);
    batch.decode(batchSessions, tokens, logits.data());
    for (size_t r = 0; r < members.size(); ++r) {
      auto want = refs[members[r]].run({Reference::text(tokens[r])}, {-1});
      expectRow(logits.data() + r * kVocab, want[0],
                "session " + std::to_string(members[r]) + " at " +
                    std::to_string(sessions[members[r]]->position() - 1));
    }
  }
  EXPECT_EQ(sessions[0]->position(), 3 + 4);
  EXPECT_EQ(sessions[1]->position(), 2 + 4);
  EXPECT_EQ(sessions[2]->position(), 5 + 4);

  // Refused batches run nothing and move no session.
  std::vector<float> logits(3 * kVocab);
  auto refused = [&](std::vector<loom::Session *> members, std::vector<int32_t> tokens) {
    return errorOf([&] { batch.decode(members, tokens, logits.data()); });
  };
  std::string m = refused({sessions[0].get(), sessions[0].get()}, {3, 4});
  EXPECT_NE(m.find("more than once"), std::string::npos) << m;
  m = refused({sessions[0].get(), sessions[1].get()}, {3, kVocab});
  EXPECT_NE(m.find("token id 16 of session 1 is out of range"), std::string::npos) << m;
  m = refused({sessions[0].get()}, {3, 4});
  EXPECT_NE(m.find("1 sessions but 2 tokens"), std::string::npos) << m;
  auto other = loom::Model::open(*artifact);
  loom::Session stranger(other, {});
  m = refused({sessions[0].get(), &stranger}, {3, 4});
  EXPECT_NE(m.find("another model"), std::string::npos) << m;
  sessions[2]->decode(3, logits.data());
  sessions[2]->decode(3, logits.data());
  sessions[2]->decode(3, logits.data()); // position 12 = max_context: full
  m = refused({sessions[0].get(), sessions[2].get()}, {3, 4});
  EXPECT_NE(m.find("the context is full"), std::string::npos) << m;
  EXPECT_EQ(sessions[0]->position(), 7);
  EXPECT_EQ(sessions[1]->position(), 6);

  // The C API: the same step through loom_batch_decode.
  loom_model *cModel = nullptr;
  ASSERT_EQ(loom_model_open(artifact->c_str(), &cModel), LOOM_OK) << loom_last_error();
  loom_batch *cBatch = nullptr;
  ASSERT_EQ(loom_batch_create(cModel, &cBatch), LOOM_OK) << loom_last_error();
  loom_session_options options;
  loom_session_options_init(&options);
  loom_session *a = nullptr, *b = nullptr;
  ASSERT_EQ(loom_session_create(cModel, &options, &a), LOOM_OK);
  ASSERT_EQ(loom_session_create(cModel, &options, &b), LOOM_OK);
  const int32_t promptA[] = {2, 5}, promptB[] = {2, 6, 7};
  ASSERT_EQ(loom_session_prefill(a, promptA, 2, nullptr, 0, 0, logits.data(), kVocab), LOOM_OK);
  ASSERT_EQ(loom_session_prefill(b, promptB, 3, nullptr, 0, 0, logits.data(), kVocab), LOOM_OK);
  loom_session *pair[] = {a, b};
  const int32_t next[] = {9, 13};
  EXPECT_EQ(loom_batch_decode(cBatch, pair, next, 2, logits.data(), kVocab),
            LOOM_ERROR_BUFFER_TOO_SMALL);
  ASSERT_EQ(loom_batch_decode(cBatch, pair, next, 2, logits.data(), 2 * kVocab), LOOM_OK)
      << loom_last_error();
  Reference refA, refB;
  refA.run({Reference::text(2), Reference::text(5)}, {-1, -1});
  refB.run({Reference::text(2), Reference::text(6), Reference::text(7)}, {-1, -1, -1});
  expectRow(logits.data(), refA.run({Reference::text(9)}, {-1})[0], "C API row 0");
  expectRow(logits.data() + kVocab, refB.run({Reference::text(13)}, {-1})[0], "C API row 1");
  EXPECT_EQ(loom_session_position(a), 3);
  EXPECT_EQ(loom_session_position(b), 4);
  loom_session_destroy(a);
  loom_session_destroy(b);
  loom_batch_destroy(cBatch);
  loom_model_close(cModel);
}

// TokenPositions hold start + t in a call and each row's own position in a batch, where the
// kernel taking them runs once over all rows (it writes the token count of its call).
// A prefill without a logits buffer skips the LM head (a server's chunks before the last) and
// leaves the session as a prefill with one does: the next chunk's logits are the same, and agree
// with the reference. Asking for every position's logits without a buffer is refused.
TEST_F(SessionTest, PrefillWithoutLogitsSkipsTheLmHead) {
  auto model = loom::Model::open(*artifact);
  Reference ref;
  auto want = ref.run({Reference::text(2), Reference::text(5), Reference::text(7)}, {-1, -1, -1});
  std::vector<float> logits[2] = {std::vector<float>(kVocab), std::vector<float>(kVocab)};
  for (int withLogits = 0; withLogits < 2; ++withLogits) {
    loom::Session session(model, {});
    std::vector<float> head(kVocab, -1.0f);
    session.prefill({2, 5}, std::vector<loom::MediaInput>{}, false,
                    withLogits ? head.data() : nullptr);
    if (!withLogits)
      EXPECT_EQ(session.lastPrefillTimes().lmHead, 0.0);
    session.prefill({7}, std::vector<loom::MediaInput>{}, false, logits[withLogits].data());
    EXPECT_EQ(session.position(), 3);
  }
  EXPECT_EQ(logits[0], logits[1]);
  expectRow(logits[0].data(), want[2], "the last chunk after one without logits");

  loom_model *cModel = nullptr;
  ASSERT_EQ(loom_model_open(artifact->c_str(), &cModel), LOOM_OK) << loom_last_error();
  loom_session *session = nullptr;
  ASSERT_EQ(loom_session_create(cModel, nullptr, &session), LOOM_OK) << loom_last_error();
  const int32_t prompt[] = {2, 5};
  EXPECT_EQ(loom_session_prefill(session, prompt, 2, nullptr, 0, 0, nullptr, 0), LOOM_OK)
      << loom_last_error();
  EXPECT_EQ(loom_session_prefill(session, prompt, 2, nullptr, 0, 1, nullptr, 0),
            LOOM_ERROR_INVALID_ARGUMENT);
  EXPECT_NE(std::string(loom_last_error()).find("all_logits without a logits buffer"),
            std::string::npos);
  loom_session_destroy(session);
  loom_model_close(cModel);
}

TEST_F(SessionTest, TokenPositionsKernelsRunOnceOverABatch) {
  auto model = loom::Model::open(*artifact);
  loom::Executor executor(*model, *model->entry("token_positions"));
  loom::ExecutionState a, b;
  a.arenaTokens = b.arenaTokens = 4;
  std::vector<float> out(3 * 2, -1.0f);
  void *outputs[] = {out.data()};
  executor.run(3, 5, nullptr, 0, outputs, 1, a);
  EXPECT_EQ(out, (std::vector<float>{5, 3, 6, 3, 7, 3}));
  executor.runBatch({{&a, 9}, {&b, 2}, {&a, 4}}, nullptr, 0, outputs, 1, b);
  EXPECT_EQ(out, (std::vector<float>{9, 3, 2, 3, 4, 3}));
  executor.run(1, 11, nullptr, 0, outputs, 1, a);
  EXPECT_EQ(out[0], 11);
  EXPECT_EQ(out[1], 1);
}

// An artifact tuned by loom-tune (RuntimeTuning): sessions that leave threads to it run prefills
// and decode steps with its thread counts, LOOM_HUGE_PAGES_AS_TUNED (ArtifactMemory::AsTuned)
// reads it into huge pages, and a session's own thread count wins.
TEST_F(SessionTest, TunedRuntimeChoicesApply) {
  ArtifactOptions options;
  options.edit = [](fb::ModelT &m) {
    m.target->runtime_tuning = std::make_unique<fb::RuntimeTuningT>();
    m.target->runtime_tuning->prefill_threads = 1;
    m.target->runtime_tuning->decode_threads = 2;
    m.target->runtime_tuning->huge_pages = true;
    m.target->runtime_tuning->prefill_chunk = 96;
  };
  const std::string path = writeArtifact("tuned.loom", options);
  EXPECT_FALSE(loom::Model::open(path)->artifact().isHugePageCopy());
  auto model = loom::Model::open(path, loom::ArtifactMemory::AsTuned);
  EXPECT_TRUE(model->artifact().isHugePageCopy());
  const loom::TunedRuntime &tuned = model->tunedRuntime();
  EXPECT_TRUE(tuned.tuned);
  EXPECT_EQ(tuned.prefillChunk, 96);
  EXPECT_FALSE(loom::Model::open(*artifact)->tunedRuntime().tuned);
  EXPECT_FALSE(loom::Model::open(*artifact, loom::ArtifactMemory::AsTuned)->artifact().isHugePageCopy());

  const int cpus = loom::usableCpuCount();
  std::vector<float> logits(kVocab);
  loom::Session session(model, {});
  loom::kernel_pool::setThreads(std::min(2, cpus));
  session.prefill({2, 5, 7}, std::vector<loom::MediaInput>{}, false, logits.data());
  EXPECT_EQ(loom::kernel_pool::threads(), 1);
  session.decode(4, logits.data());
  EXPECT_EQ(loom::kernel_pool::threads(), std::min(2, cpus));
  loom::SessionOptions own;
  own.threads = 1;
  loom::Session pinned(model, own);
  pinned.decode(4, logits.data());
  EXPECT_EQ(loom::kernel_pool::threads(), 1);
  std::remove(path.c_str());

  ArtifactOptions wrong;
  wrong.edit = [](fb::ModelT &m) {
    m.target->runtime_tuning = std::make_unique<fb::RuntimeTuningT>();
    m.target->runtime_tuning->decode_threads = 300;
  };
  const std::string wrongPath = writeArtifact("wrong-tuning.loom", wrong);
  try {
    loom::Model::open(wrongPath);
    ADD_FAILURE() << "an out-of-range runtime_tuning was accepted";
  } catch (const loom::Error &e) {
    EXPECT_NE(std::string(e.what()).find("runtime_tuning is out of range (threads 0/300"),
              std::string::npos)
        << e.what();
  }
  std::remove(wrongPath.c_str());
}

TEST_F(SessionTest, MediaFillPlaceholderRuns) {
  auto model = loom::Model::open(*artifact);
  loom::Session session(model, {});
  // <bos> a [image x2] b [audio x3] c
  std::vector<int32_t> ids = {2, 3, kImage, kImage, 4, kAudio, kAudio, kAudio, 5};
  std::vector<float> logits(ids.size() * kVocab);
  session.prefill(ids, std::vector<loom::ImagePatches>{patches4x2(*image)},
                  std::vector<loom::AudioFrames>{loom::loadAudioFrames(*audio, 8)}, true,
                  logits.data());
  // Hidden rows the reference expects.
  std::vector<std::vector<float>> hidden;
  for (int32_t id : ids)
    hidden.push_back(Reference::text(id == kImage || id == kAudio ? kPad : id));
  // Image 4x2, patch 2: patch c holds pixels (y, x) of columns 2c..2c+1; value y*12 + x*3 + ch.
  for (int c = 0; c < 2; ++c)
    for (int h = 0; h < 4; ++h) {
      int y = 0, x = 2 * c + h / 3, ch = h % 3;
      hidden[2 + c][h] = static_cast<float>(y * 12 + x * 3 + ch) / 255.0f + 100.0f * c;
    }
  // Audio 20 samples (i * 300 / 32768) in frames of 8, zero padded to 24.
  for (int f = 0; f < 3; ++f)
    for (int h = 0; h < 4; ++h) {
      auto sample = [](int i) { return i < 20 ? static_cast<float>(i * 300) / 32768.0f : 0.0f; };
      hidden[5 + f][h] = sample(f * 8 + h) + sample(f * 8 + h + 4);
    }
  Reference ref;
  auto want = ref.run(hidden, {-1, -1, 0, 0, -1, -1, -1, -1, -1});
  for (size_t t = 0; t < ids.size(); ++t)
    expectRow(logits.data() + t * kVocab, want[t], "row " + std::to_string(t));
}

TEST_F(SessionTest, BadPromptsAndMediaRefused) {
  auto model = loom::Model::open(*artifact);
  loom::Session session(model, {});
  std::vector<float> logits(kVocab);
  auto prefill = [&](std::vector<int32_t> ids, std::vector<loom::MediaInput> media) {
    return errorOf([&] { session.prefill(ids, media, false, logits.data()); });
  };
  std::string m = errorOf([&] {
    session.prefill({2, kImage, kImage, kImage}, {patches4x2(*image)}, {}, false, logits.data());
  });
  EXPECT_NE(m.find("prompt has 3 image tokens in run 1 but image " + *image + " gives 2 patches"),
            std::string::npos)
      << m;
  m = prefill({2, kImage, kImage}, {});
  EXPECT_NE(m.find("1 run(s) of image tokens but 0 images"), std::string::npos) << m;
  m = prefill({2, 3}, {{loom::MediaKind::Audio, *audio}});
  EXPECT_NE(m.find("0 run(s) of audio tokens but 1 audio"), std::string::npos) << m;
  m = prefill({2, kVideo}, {});
  EXPECT_NE(m.find("video"), std::string::npos) << m;
  m = prefill({2, 16}, {});
  EXPECT_NE(m.find("token id 16 at index 1 is out of range [0, 16)"), std::string::npos) << m;
  m = prefill({}, {});
  EXPECT_NE(m.find("no tokens"), std::string::npos) << m;
  EXPECT_EQ(session.position(), 0); // nothing above ran
  // A kernel's failure names it. (Loud audio: the test kernel refuses frame[0] >= 0.5.)
  std::string loud = tempPath("loud.wav");
  writeWav(loud, std::vector<short>(8, 30000));
  m = prefill({2, kAudio}, {{loom::MediaKind::Audio, loud}});
  EXPECT_NE(m.find("kernel 'test_audio'"), std::string::npos) << m;
  EXPECT_NE(m.find("error code -7"), std::string::npos) << m;
  std::remove(loud.c_str());
  // Asking for more context than compiled for.
  loom::SessionOptions big;
  big.maxContext = kMaxContext + 1;
  m = errorOf([&] { loom::Session s(model, big); });
  EXPECT_NE(m.find("at most 12"), std::string::npos) << m;
  // More kernel threads than the runtime takes (the thread pool would fail to start them).
  loom::SessionOptions crowd;
  crowd.threads = loom::kMaxKernelThreads + 1;
  m = errorOf([&] { loom::Session s(model, crowd); });
  EXPECT_NE(m.find("session: threads must be in [0, 256], got 257"), std::string::npos) << m;
}

TEST_F(SessionTest, ArtifactRefusals) {
  ArtifactOptions missing;
  missing.extraKernel = "not_there";
  std::string path = writeArtifact("missing.loom", missing);
  std::string m = errorOf([&] { loom::Model::open(path); });
  EXPECT_NE(m.find("not_there_argv"), std::string::npos) << m;
  std::remove(path.c_str());
  ArtifactOptions alien;
  alien.cpuFeatures = {"sse2", "warp-drive"};
  path = writeArtifact("alien.loom", alien);
  m = errorOf([&] { loom::Model::open(path); });
  EXPECT_NE(m.find("'warp-drive'"), std::string::npos) << m;
  EXPECT_NE(m.find(path), std::string::npos) << m;
  std::remove(path.c_str());
  // Found by ArtifactFuzzer: patch_dim (side^2 * 3) of this side overflowed int64.
  ArtifactOptions hugePatch;
  hugePatch.edit = [](fb::ModelT &model) { model.config->model_patch_size = int64_t(1) << 46; };
  path = writeArtifact("huge-patch.loom", hugePatch);
  m = errorOf([&] { loom::Model::open(path); });
  EXPECT_NE(m.find("config.model_patch_size = 70368744177664 is out of range [1, 1024]"),
            std::string::npos) << m;
  std::remove(path.c_str());
}

// Found: a dispatch with an empty shape, one pointed at another kernel and one with too few
// arguments each crashed or read the next command's arguments. Every dispatch is now checked
// against its kernel's Halide argument metadata when the model loads.
TEST_F(SessionTest, DispatchesAreCheckedAgainstTheirKernelsSignatures) {
  auto refusal = [&](const std::function<void(fb::ModelT &)> &edit) {
    ArtifactOptions options;
    options.edit = edit;
    const std::string path = writeArtifact("signature.loom", options);
    std::string message = errorOf([&] { loom::Model::open(path); });
    std::remove(path.c_str());
    EXPECT_NE(message.find(path + ": entry 'decoder' command "), std::string::npos) << message;
    return message;
  };
  auto decoder = [](fb::ModelT &m) -> fb::EntryPointT & { return *m.entry_points[3]; };
  auto attend = [&](fb::ModelT &m) -> fb::DispatchT & { return *decoder(m).commands[1].AsDispatch(); };
  std::string m = refusal([&](fb::ModelT &model) { attend(model).args[0]->shape.clear(); });
  EXPECT_NE(m.find("command 1 (Dispatch of 'test_attend') argument 0 is Arena of rank 0 and "
                   "float32, the kernel expects 'keys', an input buffer of rank 3 and float32"),
            std::string::npos) << m;
  m = refusal([&](fb::ModelT &model) { attend(model).kernel = 0; });
  EXPECT_NE(m.find("command 1 (Dispatch of 'test_embed'): passes 6 arguments, the kernel takes 3"),
            std::string::npos) << m;
  m = refusal([&](fb::ModelT &model) { attend(model).args.pop_back(); });
  EXPECT_NE(m.find("passes 5 arguments, the kernel takes 6"), std::string::npos) << m;
  m = refusal([&](fb::ModelT &model) { attend(model).args[1]->dtype = fb::DType::F32; });
  EXPECT_NE(m.find("argument 1 is Input of rank 1 and float32, the kernel expects 'blocks', an "
                   "input buffer of rank 1 and int32"), std::string::npos) << m;
  m = refusal([&](fb::ModelT &model) { std::swap(attend(model).args[1], attend(model).args[2]); });
  EXPECT_NE(m.find("argument 1 is StartPosition, the kernel expects 'blocks'"), std::string::npos) << m;
  m = refusal([&](fb::ModelT &model) {
    attend(model).args[2]->kind = fb::ValueKind::TokenPositions;
    attend(model).args[2]->shape = {T};
  });
  EXPECT_NE(m.find("argument 2 is TokenPositions, the kernel expects 'start', a int32 scalar"),
            std::string::npos) << m;
  // The weights are mapped read-only: a kernel writing them would fault.
  m = refusal([&](fb::ModelT &model) {
    auto &project = *decoder(model).commands[0].AsDispatch();
    project.args[2]->kind = fb::ValueKind::Weight;
    project.args[2]->index = 0;
    project.args[2]->shape = {kVocab, kHidden};
  });
  EXPECT_NE(m.find("argument 2 is Weight, which is read-only, the kernel expects 'values', an "
                   "output buffer of rank 3"), std::string::npos) << m;
}

// The kernel library and the tokenizer are checked against their checksums at every load;
// the weights when asked (they are the whole file).
TEST_F(SessionTest, CorruptSegmentsAreRefusedAtLoad) {
  const std::string path = writeArtifact("corrupt.loom");
  std::string good;
  {
    std::ifstream in(path, std::ios::binary);
    good.assign(std::istreambuf_iterator<char>(in), {});
  }
  auto model = loom::Model::open(path);
  const auto *segments = model->manifest().segments();
  for (uint32_t s : {1u, 2u}) {
    std::string bytes = good;
    bytes[segments->Get(s)->offset() + 100] ^= 0x01;
    std::ofstream(path, std::ios::binary) << bytes;
    const std::string m = errorOf([&] { loom::Model::open(path); });
    EXPECT_NE(m.find(path + ": segment " + std::to_string(s) + " '" +
                     segments->Get(s)->name()->str() + "'"), std::string::npos) << m;
    EXPECT_NE(m.find("is corrupt"), std::string::npos) << m;
  }
  std::string bytes = good;
  bytes[segments->Get(0)->offset() + 4] ^= 0x01;
  std::ofstream(path, std::ios::binary) << bytes;
  auto unchecked = loom::Model::open(path); // weights: only on request
  const std::string m = errorOf([&] { unchecked->artifact().verifyAllSegments(); });
  EXPECT_NE(m.find("segment 0 'weights'"), std::string::npos) << m;
  std::remove(path.c_str());
}

// An artifact with several kernel sets runs the most capable one this CPU has, from that set's
// own segment: here the first set needs a feature no CPU has and its segment holds no library,
// so the model only loads and runs through the second set's. With no set that fits, the
// refusal names each set and what it needs. ("sse2" is on every x86-64 CPU, "warp-drive" on none.)
TEST_F(SessionTest, KernelSetsRunTheOneThisCpuHas) {
  ArtifactOptions options;
  options.cpuFeatures = {"sse2", "warp-drive"};
  options.brokenFirstLibrary = true;
  options.extraSets = {{"sse2"}, {"sse2", "avx9000"}};
  std::string path = writeArtifact("sets.loom", options);
  auto model = loom::Model::open(path);
  EXPECT_EQ(model->kernelTarget(), "set-1");
  loom::Session session(model, {});
  Reference ref;
  expectTextPrefill(session, {2, 5, 7}, ref);
  std::remove(path.c_str());

  options.extraSets = {{"avx9000"}};
  path = writeArtifact("no-set.loom", options);
  std::string m = errorOf([&] { loom::Model::open(path); });
  EXPECT_NE(m.find(path + ": cannot run this artifact on this machine: none of its 2 kernel sets "
                          "fits this CPU (set-1 needs avx9000; test needs warp-drive)"),
            std::string::npos)
      << m;
  std::remove(path.c_str());
}

// Reading the artifact into huge pages changes where the bytes live, not what runs.
TEST_F(SessionTest, CApiHugePageCopyRunsLikeTheMapping) {
  loom_model_options modelOptions;
  loom_model_options_init(&modelOptions);
  EXPECT_EQ(modelOptions.huge_page_copy, 0);
  loom_model *model = nullptr;
  EXPECT_EQ(loom_model_open_with(artifact->c_str(), nullptr, &model), LOOM_ERROR_INVALID_ARGUMENT);
  std::vector<float> logits[2];
  for (int copy = 0; copy < 2; ++copy) {
    modelOptions.huge_page_copy = copy;
    ASSERT_EQ(loom_model_open_with(artifact->c_str(), &modelOptions, &model), LOOM_OK)
        << loom_last_error();
    loom_session_options options;
    loom_session_options_init(&options);
    options.threads = 1;
    loom_session *session = nullptr;
    ASSERT_EQ(loom_session_create(model, &options, &session), LOOM_OK) << loom_last_error();
    int32_t prompt[] = {2, 5, 7};
    logits[copy].assign(3 * kVocab, 0.0f);
    EXPECT_EQ(loom_session_prefill(session, prompt, 3, nullptr, 0, 1, logits[copy].data(),
                                   logits[copy].size()),
              LOOM_OK)
        << loom_last_error();
    loom_session_destroy(session);
    loom_model_close(model);
  }
  EXPECT_NE(logits[0], std::vector<float>(logits[0].size(), 0.0f));
  EXPECT_EQ(logits[0], logits[1]);

  // As tuned: this artifact was not, so it is mapped and reports no tuning; other values refused.
  modelOptions.huge_page_copy = LOOM_HUGE_PAGES_AS_TUNED;
  ASSERT_EQ(loom_model_open_with(artifact->c_str(), &modelOptions, &model), LOOM_OK)
      << loom_last_error();
  loom_model_tuning tuning;
  std::memset(&tuning, 0xff, sizeof tuning);
  EXPECT_EQ(loom_model_get_tuning(model, &tuning), LOOM_OK);
  EXPECT_EQ(tuning.tuned, 0);
  EXPECT_EQ(tuning.prefill_threads, 0);
  EXPECT_EQ(tuning.huge_pages, 0);
  EXPECT_EQ(tuning.prefill_chunk, 0);
  EXPECT_EQ(loom_model_get_tuning(model, nullptr), LOOM_ERROR_INVALID_ARGUMENT);
  loom_model_close(model);
  modelOptions.huge_page_copy = 2;
  EXPECT_EQ(loom_model_open_with(artifact->c_str(), &modelOptions, &model),
            LOOM_ERROR_INVALID_ARGUMENT);
  EXPECT_NE(std::string(loom_last_error()).find("huge_page_copy must be 0, 1 or LOOM_HUGE_PAGES_AS_TUNED, got 2"),
            std::string::npos)
      << loom_last_error();
}

// A prefill yield may step other sessions between the prefill's dispatches (alone and batched):
// both sessions still get their references' logits. Calls on the prefilling session itself are
// refused, and decode runs no yield.
TEST_F(SessionTest, PrefillYieldStepsOtherSessionsBetweenDispatches) {
  auto model = loom::Model::open(*artifact);
  loom::Session busy(model, {}), other(model, {});
  Reference busyRef, otherRef;
  expectTextPrefill(other, {2, 9}, otherRef);
  loom::DecodeBatch batch(model);
  std::vector<float> logits(kVocab);
  std::vector<std::string> refusals;
  const int32_t plain[] = {3, 4, 5, 6, 7, 8, 9};
  int calls = 0;
  busy.setPrefillYield([&] {
    if (other.position() < 9) {
      const int32_t token = plain[calls % 7];
      if (calls % 2)
        other.decode(token, logits.data());
      else
        batch.decode({&other}, {token}, logits.data());
      expectRow(logits.data(), otherRef.run({Reference::text(token)}, {-1})[0],
                "the other session at " + std::to_string(other.position() - 1));
    }
    refusals.push_back(errorOf([&] { busy.decode(3, logits.data()); }));
    refusals.push_back(errorOf([&] { batch.decode({&busy}, {3}, logits.data()); }));
    ++calls;
  });
  expectTextPrefill(busy, {2, 5, 7}, busyRef);
  EXPECT_GE(calls, 2);
  EXPECT_EQ(other.position(), std::min(2 + calls, 9));
  for (const std::string &m : refusals)
    EXPECT_NE(m.find("in the middle of a prefill"), std::string::npos) << m;
  EXPECT_EQ(busy.position(), 3);
  const int before = calls;
  busy.decode(3, logits.data());
  EXPECT_EQ(calls, before);
  expectRow(logits.data(), busyRef.run({Reference::text(3)}, {-1})[0], "busy, decoding");
}

// The media limits of loom_model_options reach the session's media; bad ones are refused by name.
TEST_F(SessionTest, CApiMediaLimits) {
  loom_model_options modelOptions;
  loom_model_options_init(&modelOptions);
  EXPECT_EQ(modelOptions.max_image_pixels, 0);
  EXPECT_EQ(modelOptions.max_media_seconds, 0);
  loom_model *model = nullptr;
  modelOptions.max_image_pixels = int64_t(1) << 40;
  EXPECT_EQ(loom_model_open_with(artifact->c_str(), &modelOptions, &model), LOOM_ERROR_MODEL);
  EXPECT_NE(std::string(loom_last_error()).find("max_image_pixels is 1099511627776; expected 1 to 89478485"),
            std::string::npos)
      << loom_last_error();
  modelOptions.max_image_pixels = 0;
  modelOptions.max_media_seconds = -5;
  EXPECT_EQ(loom_model_open_with(artifact->c_str(), &modelOptions, &model), LOOM_ERROR_MODEL);
  EXPECT_NE(std::string(loom_last_error()).find("max_media_seconds is -5"), std::string::npos)
      << loom_last_error();

  modelOptions.max_image_pixels = 100;
  modelOptions.max_media_seconds = 0;
  ASSERT_EQ(loom_model_open_with(artifact->c_str(), &modelOptions, &model), LOOM_OK)
      << loom_last_error();
  const uint8_t pixels[20 * 10 * 3] = {};
  loom_media media;
  loom_media_init_pixels(&media, pixels, 20, 10);
  size_t count = 0;
  EXPECT_EQ(loom_media_token_count(model, &media, &count), LOOM_ERROR_MODEL);
  EXPECT_NE(std::string(loom_last_error()).find("more than the limit of 100"), std::string::npos)
      << loom_last_error();
  loom_media_init_pixels(&media, pixels, 10, 10);
  EXPECT_EQ(loom_media_token_count(model, &media, &count), LOOM_OK) << loom_last_error();
  loom_model_close(model);
}

TEST_F(SessionTest, CApi) {
  EXPECT_EQ(loom_api_version(), static_cast<uint32_t>(LOOM_API_VERSION));
  loom_model *model = nullptr;
  EXPECT_EQ(loom_model_open("/nonexistent/model.loom", &model), LOOM_ERROR_MODEL);
  EXPECT_NE(std::string(loom_last_error()).find("/nonexistent/model.loom"), std::string::npos);
  ASSERT_EQ(loom_model_open(artifact->c_str(), &model), LOOM_OK) << loom_last_error();
  EXPECT_EQ(loom_model_vocab_size(model), kVocab);
  loom_special_tokens special;
  ASSERT_EQ(loom_model_special_tokens(model, &special), LOOM_OK);
  EXPECT_EQ(special.image, kImage);
  EXPECT_EQ(special.eos_count, 1);
  int32_t ids[8];
  size_t count = 0;
  ASSERT_EQ(loom_tokenize(model, "abc", 3, 0, ids, 8, &count), LOOM_OK) << loom_last_error();
  ASSERT_EQ(count, 3u);
  EXPECT_EQ(ids[0], 3);
  EXPECT_EQ(loom_tokenize(model, "abc", 3, 0, ids, 2, &count), LOOM_ERROR_BUFFER_TOO_SMALL);
  EXPECT_EQ(count, 3u);
  char text[16];
  size_t length = 0;
  ASSERT_EQ(loom_detokenize(model, ids, 3, text, sizeof text, &length), LOOM_OK);
  EXPECT_EQ(std::string(text, length), "abc");
  loom_media media;
  loom_media_init(&media, LOOM_MEDIA_IMAGE, image->c_str());
  ASSERT_EQ(loom_media_token_count(model, &media, &count), LOOM_OK);
  auto [width, height] = loom::imageResizeTarget(4, 2, loom::kDefaultImageTokenBudget, 2);
  EXPECT_EQ(count, static_cast<size_t>((width / 2) * (height / 2))); // resized to the budget

  // The same image from its bytes and as pixels; a video or a mismatched source is refused.
  const std::string imageBytes = readFile(*image);
  loom_media_init_bytes(&media, LOOM_MEDIA_IMAGE, imageBytes.data(), imageBytes.size());
  size_t fromBytes = 0;
  ASSERT_EQ(loom_media_token_count(model, &media, &fromBytes), LOOM_OK) << loom_last_error();
  EXPECT_EQ(fromBytes, count);
  const loom::RgbImage decoded = loom::decodeImage(*image);
  loom_media_init_pixels(&media, decoded.pixels.data(), static_cast<int32_t>(decoded.width),
                         static_cast<int32_t>(decoded.height));
  size_t fromPixels = 0;
  ASSERT_EQ(loom_media_token_count(model, &media, &fromPixels), LOOM_OK) << loom_last_error();
  EXPECT_EQ(fromPixels, count);
  loom_media_init_bytes(&media, LOOM_MEDIA_VIDEO, imageBytes.data(), imageBytes.size());
  EXPECT_EQ(loom_media_token_count(model, &media, &count), LOOM_ERROR_MODEL);
  EXPECT_NE(std::string(loom_last_error()).find("video must be given as a file"),
            std::string::npos) << loom_last_error();
  media.kind = LOOM_MEDIA_AUDIO;
  media.source = LOOM_MEDIA_PIXELS;
  EXPECT_EQ(loom_media_token_count(model, &media, &count), LOOM_ERROR_MODEL);
  EXPECT_NE(std::string(loom_last_error()).find("audio is given as a file"), std::string::npos)
      << loom_last_error();
  const int unknownSource = 9; // as a C caller may store it
  std::memcpy(&media.source, &unknownSource, sizeof unknownSource);
  EXPECT_EQ(loom_media_token_count(model, &media, &count), LOOM_ERROR_INVALID_ARGUMENT);

  loom_session_options options;
  loom_session_options_init(&options);
  options.seed = 9;
  loom_session *session = nullptr;
  ASSERT_EQ(loom_session_create(model, &options, &session), LOOM_OK) << loom_last_error();
  int32_t prompt[] = {2, 5, 7};
  float logits[3 * kVocab];
  EXPECT_EQ(loom_session_prefill(session, prompt, 3, nullptr, 0, 1, logits, kVocab),
            LOOM_ERROR_BUFFER_TOO_SMALL);
  ASSERT_EQ(loom_session_prefill(session, prompt, 3, nullptr, 0, 1, logits, 3 * kVocab), LOOM_OK)
      << loom_last_error();
  EXPECT_EQ(loom_session_position(session), 3);
  loom_sampling sampling;
  loom_sampling_init(&sampling);
  sampling.greedy = 1;
  int32_t token = -1;
  ASSERT_EQ(loom_sample(session, logits + 2 * kVocab, kVocab, &sampling, &token), LOOM_OK);
  EXPECT_EQ(token, loom::Sampler::argmax(logits + 2 * kVocab, kVocab));
  // Reseeding replays the draws of a session created with that seed.
  sampling.greedy = 0;
  sampling.top_k = 0;
  sampling.top_p = 1.0f;
  const float flat[4] = {0, 0, 0, 0};
  std::vector<int32_t> draws[2];
  for (int pass = 0; pass < 2; ++pass) {
    ASSERT_EQ(loom_session_set_seed(session, 9), LOOM_OK);
    for (int i = 0; i < 16; ++i) {
      ASSERT_EQ(loom_sample(session, flat, 4, &sampling, &token), LOOM_OK);
      draws[pass].push_back(token);
    }
  }
  EXPECT_EQ(draws[0], draws[1]);
  EXPECT_NE(std::count(draws[0].begin(), draws[0].end(), draws[0][0]), 16); // not constant
  loom_session *fresh = nullptr;
  ASSERT_EQ(loom_session_create(model, &options, &fresh), LOOM_OK) << loom_last_error(); // seed 9
  for (int i = 0; i < 16; ++i) {
    ASSERT_EQ(loom_sample(fresh, flat, 4, &sampling, &token), LOOM_OK);
    EXPECT_EQ(token, draws[0][i]) << i;
  }
  loom_session_destroy(fresh);
  sampling.greedy = 1;
  ASSERT_EQ(loom_sample(session, logits + 2 * kVocab, kVocab, &sampling, &token), LOOM_OK);
  EXPECT_EQ(loom_session_decode(session, 99, logits, kVocab), LOOM_ERROR_RUNTIME);
  EXPECT_NE(std::string(loom_last_error()).find("out of range"), std::string::npos);
  ASSERT_EQ(loom_session_decode(session, token, logits, kVocab), LOOM_OK) << loom_last_error();
  EXPECT_EQ(loom_session_position(session), 4);
  loom_session_destroy(session);
  loom_model_close(model);
}
