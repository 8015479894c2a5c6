#include "References.h"

#include "loom/Error.h"

#include <cblas.h>
#include <dnnl.hpp>

#include <dlfcn.h>

#include <vector>

namespace loom::bench {

void setReferenceThreads(int threads) {
  openblas_set_num_threads(threads);
  // oneDNN runs on OpenMP (libgomp); looked up at run time so that loom-bench does not depend
  // on how this libdnnl was threaded.
  if (auto set = reinterpret_cast<void (*)(int)>(dlsym(RTLD_DEFAULT, "omp_set_num_threads")))
    set(threads);
}

struct OneDnnMatmul::State {
  dnnl::engine engine{dnnl::engine::kind::cpu, 0};
  dnnl::stream stream{engine};
  dnnl::memory::desc src, wei, dst;
  dnnl::matmul::primitive_desc pd;
  dnnl::matmul prim;
  dnnl::memory weights;
};

namespace {
dnnl::memory::data_type dnnlType(Precision p) {
  switch (p) {
  case Precision::BF16:
    return dnnl::memory::data_type::bf16;
  case Precision::S8:
    return dnnl::memory::data_type::s8;
  default:
    return dnnl::memory::data_type::f32;
  }
}

const char *precisionName(Precision p) {
  return p == Precision::BF16 ? "bf16" : p == Precision::S8 ? "s8" : "f32";
}

// The matmul for `precision`; int8 products are scaled per output channel (mask 2: dimension 1
// of dst), as a quantized linear layer's row scales.
dnnl::matmul::primitive_desc matmulDesc(const dnnl::memory::desc &src, const dnnl::memory::desc &wei,
                                        const dnnl::memory::desc &dst, Precision precision,
                                        const dnnl::engine &engine) {
  dnnl::primitive_attr attr;
  if (precision == Precision::S8)
    attr.set_output_scales(2, std::vector<float>(size_t(dst.dims()[1]), 1.0f / (127.0f * 127.0f)));
  return dnnl::matmul::primitive_desc(dnnl::matmul::desc(src, wei, dst), attr, engine);
}
} // namespace

OneDnnMatmul::OneDnnMatmul(int64_t tokens, int64_t in, int64_t out, Precision precision,
                           const void *weights)
    : state_(std::make_unique<State>()) {
  using tag = dnnl::memory::format_tag;
  State &s = *state_;
  s.src = dnnl::memory::desc({tokens, in}, dnnlType(precision), tag::ab);
  // W^T as {K, N} = {in, out} over the [out, in] row-major bytes: the "ba" layout.
  s.wei = dnnl::memory::desc({in, out}, dnnlType(precision), tag::ba);
  s.dst = dnnl::memory::desc({tokens, out}, dnnl::memory::data_type::f32, tag::ab);
  try {
    s.pd = matmulDesc(s.src, s.wei, s.dst, precision, s.engine);
  } catch (const dnnl::error &e) {
    fail("oneDNN has no ", precisionName(precision), " matmul on this CPU: ", e.what());
  }
  s.prim = dnnl::matmul(s.pd);
  s.weights = dnnl::memory(s.wei, s.engine, const_cast<void *>(weights));
}

OneDnnMatmul::~OneDnnMatmul() = default;

void OneDnnMatmul::run(const void *x, float *y) {
  State &s = *state_;
  dnnl::memory src(s.src, s.engine, const_cast<void *>(x)), dst(s.dst, s.engine, y);
  s.prim.execute(s.stream, {{DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, s.weights}, {DNNL_ARG_DST, dst}});
  s.stream.wait();
}

std::string OneDnnMatmul::implementation() const { return state_->pd.impl_info_str(); }

bool oneDnnSupports(Precision precision) {
  try {
    dnnl::engine engine(dnnl::engine::kind::cpu, 0);
    using tag = dnnl::memory::format_tag;
    dnnl::memory::desc src({4, 64}, dnnlType(precision), tag::ab);
    dnnl::memory::desc wei({64, 32}, dnnlType(precision), tag::ba);
    dnnl::memory::desc dst({4, 32}, dnnl::memory::data_type::f32, tag::ab);
    matmulDesc(src, wei, dst, precision, engine);
    return true;
  } catch (const dnnl::error &) {
    return false;
  }
}

void openBlasLinear(int64_t tokens, int64_t in, int64_t out, const float *x, const float *weights,
                    float *y) {
  const blasint K = blasint(in), N = blasint(out), M = blasint(tokens);
  if (tokens == 1)
    cblas_sgemv(CblasRowMajor, CblasNoTrans, N, K, 1.0f, weights, K, x, 1, 0.0f, y, 1);
  else
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, N, K, 1.0f, x, K, weights, K, 0.0f, y, N);
}

} // namespace loom::bench
