#include "References.h"

#include "loom/Error.h"

#include <cblas.h>
#include <dnnl.hpp>

#include <dlfcn.h>

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
  return p == Precision::BF16 ? dnnl::memory::data_type::bf16 : dnnl::memory::data_type::f32;
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
    s.pd = dnnl::matmul::primitive_desc(dnnl::matmul::desc(s.src, s.wei, s.dst), s.engine);
  } catch (const dnnl::error &e) {
    fail("oneDNN has no ", precision == Precision::BF16 ? "bf16" : "f32",
         " matmul on this CPU: ", e.what());
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
    dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(src, wei, dst), engine);
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
