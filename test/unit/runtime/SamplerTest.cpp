// Tests that sampling is greedy where it must be, honours top-k / top-p, and is deterministic
// for a seed.
#include "loom/Error.h"
#include "loom/Runtime/Sampler.h"

#include <gtest/gtest.h>

#include <cmath>
#include <set>
#include <vector>

using loom::Sampler;
using loom::SamplingParams;

namespace {
std::vector<float> logits() { return {0.5f, 2.0f, -1.0f, 1.9f, 2.0f, 0.0f, 1.5f}; }
} // namespace

TEST(Sampler, GreedyPicksFirstMaximum) {
  Sampler sampler(7);
  SamplingParams p;
  p.greedy = true;
  auto l = logits();
  EXPECT_EQ(sampler.sample(l.data(), l.size(), p), 1); // ties (1 and 4): lower id
  EXPECT_EQ(Sampler::argmax(l.data(), l.size()), 1);
}

TEST(Sampler, TemperatureZeroIsGreedy) {
  Sampler sampler(1);
  SamplingParams p;
  p.temperature = 0.0f;
  auto l = logits();
  for (int i = 0; i < 20; ++i)
    EXPECT_EQ(sampler.sample(l.data(), l.size(), p), 1);
}

TEST(Sampler, TopKOneIsGreedy) {
  Sampler sampler(3);
  SamplingParams p;
  p.temperature = 5.0f;
  p.topK = 1;
  p.topP = 1.0f;
  auto l = logits();
  for (int i = 0; i < 50; ++i)
    EXPECT_EQ(sampler.sample(l.data(), l.size(), p), 1);
}

TEST(Sampler, TopKLimitsCandidates) {
  Sampler sampler(11);
  SamplingParams p;
  p.temperature = 100.0f; // nearly uniform
  p.topK = 3;
  p.topP = 1.0f;
  auto l = logits();
  std::set<int32_t> seen;
  for (int i = 0; i < 500; ++i)
    seen.insert(sampler.sample(l.data(), l.size(), p));
  EXPECT_EQ(seen, (std::set<int32_t>{1, 3, 4}));
}

TEST(Sampler, TopPKeepsSmallestNucleus) {
  // Probabilities 0.5, 0.3, 0.15, 0.05: top_p 0.75 keeps {0, 1} (0.5 < 0.75 <= 0.8).
  std::vector<float> l = {std::log(0.5f), std::log(0.3f), std::log(0.15f), std::log(0.05f)};
  Sampler sampler(5);
  SamplingParams p;
  p.temperature = 1.0f;
  p.topK = 0;
  p.topP = 0.75f;
  std::set<int32_t> seen;
  int zeros = 0;
  for (int i = 0; i < 2000; ++i) {
    int32_t t = sampler.sample(l.data(), l.size(), p);
    seen.insert(t);
    zeros += t == 0;
  }
  EXPECT_EQ(seen, (std::set<int32_t>{0, 1}));
  // Renormalised: P(0) = 0.5 / 0.8 = 0.625.
  EXPECT_NEAR(zeros / 2000.0, 0.625, 0.05);
  // A tiny top_p keeps only the most likely token.
  p.topP = 0.01f;
  for (int i = 0; i < 50; ++i)
    EXPECT_EQ(sampler.sample(l.data(), l.size(), p), 0);
}

TEST(Sampler, SameSeedSameTokens) {
  std::vector<float> l(1000);
  for (size_t i = 0; i < l.size(); ++i)
    l[i] = static_cast<float>((i * 7919) % 101) / 25.0f;
  SamplingParams p; // model defaults: temperature 1, top_k 64, top_p 0.95
  Sampler a(42), b(42), c(43);
  std::vector<int32_t> ta, tb, tc;
  for (int i = 0; i < 64; ++i) {
    ta.push_back(a.sample(l.data(), l.size(), p));
    tb.push_back(b.sample(l.data(), l.size(), p));
    tc.push_back(c.sample(l.data(), l.size(), p));
  }
  EXPECT_EQ(ta, tb);
  EXPECT_NE(ta, tc);
  a.reseed(42);
  std::vector<int32_t> again;
  for (int i = 0; i < 64; ++i)
    again.push_back(a.sample(l.data(), l.size(), p));
  EXPECT_EQ(again, ta);
}

TEST(Sampler, RejectsEmptyAndBadParameters) {
  Sampler sampler;
  SamplingParams p;
  EXPECT_THROW(sampler.sample(nullptr, 0, p), loom::Error);
  auto l = logits();
  p.topP = -0.5f;
  EXPECT_THROW(sampler.sample(l.data(), l.size(), p), loom::Error);
}
