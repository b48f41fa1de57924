// The figure of a `sims tune` run: the metric of every (auxiliary, ω) as a
// heat map (rows: auxiliaries by budget, columns: ω), each cell with its value,
// darker = lower = better, the chosen cell outlined and the verdict below.
#pragma once
#include "loops/tune.hpp"
#include "render/canvas.hpp"

namespace sims::loops {

render::Canvas tune_heatmap(const TuneResult& r);

}  // namespace sims::loops
