#include "sweep_table.hpp"

#include "cli_common.hpp"

#include <algorithm>
#include <cmath>
#include <sstream>
#include <vector>

namespace sims::cli {
namespace {

std::string interval_text(const metrics::SweepRow& row) {
  std::ostringstream s;
  s << row.lo << ":" << row.hi;
  return s.str();
}

}  // namespace

void print_sweep_table(std::ostream& out, const metrics::SweepResult& r,
                       const std::function<std::string(const metrics::SweepRow&)>& mark) {
  // Columns that say something: the auxiliary and the interval only where they differ between rows, precision and
  // recall only where some row has them.
  bool several_aux = false, several_intervals = false, pr = false, intervals = false;
  for (const auto& row : r.rows) {
    several_aux = several_aux || row.aux != r.rows.front().aux;
    several_intervals = several_intervals || row.lo != r.rows.front().lo || row.hi != r.rows.front().hi;
    pr = pr || std::isfinite(row.precision);
    intervals = intervals || row.value_estimate(r.ci_level).has_interval();
  }
  const std::string level = std::to_string(static_cast<int>(std::lround(100 * r.ci_level)));
  struct Line {
    std::vector<std::string> cells;
    std::string mark;
  };
  std::vector<std::string> head;
  if (several_aux) head.push_back("aux");
  if (several_intervals) head.push_back("interval");
  head.push_back("omega");
  head.push_back(metrics::metric_name(r.metric));
  head.push_back("gain over omega = 0");
  if (pr) head.push_back("precision"), head.push_back("recall");
  // The directions and the intervals once, above the columns (headers that said them made rows of 150 characters).
  out << "  " << metrics::metric_name(r.metric) << ": lower is better, a gain above 0 is SIMS doing better"
      << (pr ? "; precision and recall: higher is better" : "")
      << (intervals ? "; ± " + level + " % intervals" : "; no intervals (--ci 0)") << "\n";
  std::vector<Line> lines;
  for (const auto& row : r.rows) {
    Line l;
    std::ostringstream w;
    w << row.omega;
    if (several_aux) l.cells.push_back(row.aux);
    if (several_intervals) l.cells.push_back(interval_text(row));
    l.cells.push_back(w.str());
    l.cells.push_back(row.value_estimate(r.ci_level).precise_text());
    // The gain over the ω = 0 row of the same auxiliary and interval (the verdict's comparison).
    const metrics::SweepRow* zero = r.named_rows_of(row).zero;
    const bool gain = row.omega != 0.0 && zero && std::isfinite(row.value);
    l.cells.push_back(gain ? row.gain_estimate(*zero, r.ci_level).precise_text() : "-");
    if (pr) {
      l.cells.push_back(metrics::Estimate::of(row.precision, row.precision_lo, row.precision_hi).precise_text());
      l.cells.push_back(metrics::Estimate::of(row.recall, row.recall_lo, row.recall_hi).precise_text());
    }
    if (mark) l.mark = mark(row);
    lines.push_back(std::move(l));
  }
  std::vector<size_t> width(head.size());
  for (size_t k = 0; k < head.size(); ++k) {
    width[k] = text_columns(head[k]);
    for (const auto& l : lines) width[k] = std::max(width[k], text_columns(l.cells[k]));
  }
  const auto put = [&](const std::vector<std::string>& cells, const std::string& tail) {
    std::string s = " ";
    for (size_t k = 0; k < cells.size(); ++k) s += " " + cells[k] + std::string(width[k] - text_columns(cells[k]) + 2, ' ');
    if (!tail.empty()) s += tail;
    while (!s.empty() && s.back() == ' ') s.pop_back();
    out << s << "\n";
  };
  put(head, "");
  for (const auto& l : lines) put(l.cells, l.mark);
  if (std::isfinite(r.floor.value))
    out << "  floor: " << metrics::metric_name(r.metric) << " between two real sets of the rows' size: "
        << r.floor.text(4) << "\n";
}

}  // namespace sims::cli
