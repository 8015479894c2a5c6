// See AttentionCore.h. Per query head h and token t (a task holds tiles.headsPerTask heads or
// fewer), over the keys j:
//   score(j)  = scale * sum_i q(i) * key(i, j)   (dot(lane, j): lanes of i, then a lane sum)
//   rowMax, weights(j) = exp(score(j) - rowMax) where visible, denom = sum_j weights(j)
//   out(d)    = sum_j weights(j) * value(d, j) / denom
#include "AttentionCore.h"
#include "PipelineHelpers.h"

#include <algorithm>
#include <limits>
#include <vector>

namespace loom::codegen::detail {

using namespace Halide;

AttentionTiles AttentionTiles::of(const Attention &p, const Tuning &tuning) {
  const ScheduleParameters params = tuning.parameters(AttentionKey{p.qHeads, p.kvHeads, p.headDim});
  return {params.at("heads_per_task"), params.at("score_accumulators"),
          params.at("value_accumulators")};
}

Func attend(const Attention &p, ImageParam q, ImageParam blockIds, const AttentionKeys &keys,
            Func value, Expr nPast, Expr pastStart, Expr startPos, int lanes,
            const AttentionTiles &tiles) {
  const int group = int(p.qHeads / p.kvHeads);
  const int headDim = checkedInt(p.headDim, "head_dim");
  Expr T = q.dim(2).extent();
  Expr nKeys = nPast + T;
  Var d("d"), j("j"), h("h"), t("t"), lane("att_qk_l"), dO("dO");
  Expr own = clamp(j - nPast, 0, T - 1);

  // The keys query t can see lie in [firstKey(t), lastKey(t)]: up to its own position, or to the
  // end of its image block (blocks are runs of one id, so a backward scan finds their ends), and
  // from the window's start. Work outside that range is skipped; inside it, the mask decides.
  Func blockEnd("att_block_end");
  Expr lastOwn = t;
  if (p.imageBlocks) {
    blockEnd(t) = t;
    RDom back(0, max(T - 1, 0), "att_block_back");
    Expr u = T - 2 - back;
    blockEnd(u) = select(blockIds(u) >= 0 && blockIds(u + 1) == blockIds(u), blockEnd(u + 1), u);
    lastOwn = blockEnd(t);
  }
  Expr lastKey = nPast + lastOwn;
  Expr firstKey = p.window > 0 ? max(nPast + t - checkedInt(p.window, "window") + 1, 0) : Expr(0);
  // Scores and softmax weights are defined over the visible keys only: `undef` elsewhere and an
  // update over an RDom restricted to [firstKey, lastKey]. Halide trims such a loop to the
  // range even where lastKey is data (an image block's end), which bounds inference of a pure
  // definition cannot: with image blocks it computed every key from firstKey to the end of
  // the call (a 4096-token prompt's sliding layer: 31% of the prefill).
  auto visibleKeys = [&](Expr base, Expr count, const std::string &name) {
    RDom r(0, count, name);
    r.where(base + r >= firstKey && base + r <= lastKey);
    return r;
  };

  // The query-key dot products of `key`, `lanes` partial sums per key (the head dim is split
  // across them; a head dim under one vector is summed whole), then their lane sum; scheduled
  // below.
  const int dotLanes = headDim % lanes == 0 ? lanes : 1;
  RDom chunk(0, headDim / dotLanes, "att_qk_r");
  // Scores in tiles of keysPerTile keys x the task's heads (scheduled below): tiles.x is the
  // key in the tile, tiles.y the tile; only tiles holding a visible key are computed, whole.
  int heads = std::min(tiles.headsPerTask, group);
  while (group % heads != 0)
    --heads;
  const int keysPerTile = std::max(1, tiles.scoreAccumulators / heads);
  struct Scores {
    Func dot, score;
    RDom tiles;
  };
  std::vector<Scores> scores;
  // `key` holds `count` keys, the first being key `base` of the call.
  auto scoresOf = [&](const std::string &suffix, Func key, Expr base, Expr count) {
    RDom tiles(0, keysPerTile, 0, (count + keysPerTile - 1) / keysPerTile, "att_score_tile" + suffix);
    Expr first = base + tiles.y * keysPerTile;
    tiles.where(first + keysPerTile - 1 >= firstKey && first <= lastKey);
    Scores s{Func("att_qk_lanes" + suffix), Func("att_score" + suffix), tiles};
    s.dot(lane, j, h, t) = 0.0f;
    s.dot(lane, j, h, t) +=
        q(chunk * dotLanes + lane, h, t) * key(chunk * dotLanes + lane, h / group, j);
    Expr tileKey = tiles.y * keysPerTile + tiles.x;
    std::vector<Expr> laneTerms;
    for (int l = 0; l < dotLanes; ++l)
      laneTerms.push_back(s.dot(l, tileKey, h, t));
    s.score(j, h, t) = undef<float>();
    s.score(tileKey, h, t) = treeSum(laneTerms) * float(p.scale);
    scores.push_back(s);
    return s.score;
  };
  Func score("att_score");
  if (keys.all.defined()) {
    score = scoresOf("", keys.all, 0, nKeys);
  } else {
    // Each half over the keys it holds, joined once per visible key.
    Func past = scoresOf("_past", keys.past, 0, nPast), own = scoresOf("_own", keys.own, nPast, T);
    RDom joined = visibleKeys(0, nKeys, "att_score_key");
    score(j, h, t) = undef<float>();
    score(joined, h, t) = select(joined < nPast, past(clamp(joined, 0, max(nPast - 1, 0)), h, t),
                                 own(clamp(joined - nPast, 0, T - 1), h, t));
  }

  Expr keyPos = pastStart + j, queryPos = startPos + t;
  Expr mask = keyPos <= queryPos;
  if (p.imageBlocks)
    mask = mask || (blockIds(t) >= 0 && j >= nPast && blockIds(own) == blockIds(t));
  if (p.window > 0)
    mask = mask && keyPos > queryPos - checkedInt(p.window, "window");
  Func visible("att_visible");
  visible(j, t) = mask;

  const Expr lowest = Expr(-std::numeric_limits<float>::max());
  // The softmax and value loops run over the visible range only.
  RDom rk = visibleKeys(0, nKeys, "att_rk");
  Func rowMax("att_max"), weights("att_exp"), denom("att_denom"), acc("att_acc");
  rowMax(h, t) = lowest;
  rowMax(h, t) = max(rowMax(h, t), select(visible(rk, t), score(rk, h, t), lowest));
  // The weights in vectors of `lanes` keys (weighted.x), only the vectors holding a visible key
  // (weighted.y); a vector's invisible keys read scores that were not computed and get 0.
  RDom weighted(0, lanes, 0, (nKeys + lanes - 1) / lanes, "att_exp_key");
  Expr weightKey = weighted.y * lanes + weighted.x;
  weighted.where(weighted.y * lanes + lanes - 1 >= firstKey && weighted.y * lanes <= lastKey);
  weights(j, h, t) = undef<float>();
  weights(weightKey, h, t) =
      select(visible(weightKey, t), exp(score(weightKey, h, t) - rowMax(h, t)), 0.0f);
  denom(h, t) = 0.0f;
  denom(h, t) += weights(rk, h, t);
  acc(d, h, t) = 0.0f;
  std::vector<RVar> valueKeys; // the key loop of each update of acc
  if (keys.all.defined()) {
    acc(d, h, t) += weights(rk, h, t) * value(d, h / group, rk);
    valueKeys.push_back(rk);
  } else {
    RDom past = visibleKeys(0, nPast, "att_rk_past"), own = visibleKeys(nPast, T, "att_rk_own");
    acc(d, h, t) += weights(past, h, t) * keys.pastValue(d, h / group, past);
    acc(d, h, t) += weights(nPast + own, h, t) * keys.ownValue(d, h / group, own);
    valueKeys = {past, own};
  }
  Func out("out"); // output buffer name in the metadata
  out(d, h, t) = acc(d, h, t) / denom(h, t);

  // One task per (heads of a group sharing their key/value head, token).
  Var hg("hg"), hi("hi"), task("task");
  out.split(h, hg, hi, heads).reorder(d, hi, hg, t).fuse(hg, t, task).parallel(task);
  if (headDim >= lanes)
    out.vectorize(d, lanes, TailStrategy::ShiftInwards);
  // Scores in tiles of keys x the task's heads: per chunk of the head dim, one load per query
  // and per key and one FMA per (key, head) into its own accumulator (one key at a time, a
  // chain of dependent FMAs, was 8x slower). Tiles are computed whole (a guarded one keeps its
  // accumulators in memory), the last over clamped keys beyond the half's, as the key Funcs
  // allow.
  for (Scores &s : scores) {
    s.score.compute_at(out, task).bound_extent(h, heads);
    s.score.update().reorder(s.tiles.x, h, s.tiles.y).unroll(s.tiles.x).unroll(h);
    s.dot.compute_at(s.score, s.tiles.y)
        .bound_extent(lane, dotLanes)
        .bound_extent(j, keysPerTile)
        .unroll(j)
        .unroll(h);
    s.dot.update().reorder(lane, j, h, chunk).unroll(j).unroll(h);
    if (dotLanes > 1) {
      s.dot.vectorize(lane);
      s.dot.update().vectorize(lane);
    }
  }
  if (!keys.all.defined())
    score.compute_at(out, task); // the halves' scores joined once per key
  if (p.imageBlocks)
    blockEnd.compute_root();
  rowMax.compute_at(out, task);
  weights.compute_at(out, task);
  // Each (x, y) writes its own key y * lanes + x, which Halide cannot prove: no race.
  weights.update().allow_race_conditions().vectorize(weighted.x);
  denom.compute_at(out, task);
  // The weighted values in tiles of output vectors x the task's heads, each tile's accumulators
  // in registers over all the keys.
  acc.compute_at(out, task).bound_extent(h, heads);
  if (headDim >= lanes) {
    acc.vectorize(d, lanes, TailStrategy::GuardWithIf);
    const int vectors = std::max(1, tiles.valueAccumulators / heads);
    const int tile = headDim % (vectors * lanes) == 0 ? vectors * lanes : lanes;
    for (size_t stage = 0; stage < valueKeys.size(); ++stage)
      acc.update(int(stage))
          .split(d, dO, d, tile, TailStrategy::GuardWithIf)
          .reorder(d, h, valueKeys[stage], dO)
          .vectorize(d, lanes)
          .unroll(d)
          .unroll(h);
  }
  return out;
}

} // namespace loom::codegen::detail
