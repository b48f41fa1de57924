// The ω sweep as a table on the terminal, for `sims sweep` and `sims tune`: one row per auxiliary, guidance interval
// and ω with the metric and its gain over ω = 0, each with its interval, and precision and recall where they were
// computed, then the metric's floor where it was measured. The CSV (sweep.csv) keeps every column; the table is
// what a reader compares by eye.
#pragma once
#include <functional>
#include <ostream>
#include <string>

#include "metrics/sweep.hpp"

namespace sims::cli {

// `mark(row)`: text after a row ("<- chosen"), empty for none.
void print_sweep_table(std::ostream& out, const metrics::SweepResult& r,
                       const std::function<std::string(const metrics::SweepRow&)>& mark);

}  // namespace sims::cli
