#include "loops/tune_compare.hpp"

#include <algorithm>
#include <cmath>
#include <map>

#include "common/error.hpp"
#include "common/json_parse.hpp"

namespace sims::loops {

namespace {

double num(const nlohmann::json& j, const std::string& key) {
  const auto it = j.find(key);
  return it != j.end() && it->is_number() ? it->get<double>() : std::nan("");
}

metrics::Estimate estimate(const nlohmann::json& row, const std::string& metric) {
  metrics::Estimate e;
  e.value = num(row, metric);
  e.lo = num(row, metric + "_lo");
  e.hi = num(row, metric + "_hi");
  e.method = "bootstrap";
  return e;
}

nlohmann::json estimate_json(const metrics::Estimate& e) {
  auto n = [](double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr); };
  return {{"value", n(e.value)}, {"lo", n(e.lo)}, {"hi", n(e.hi)}};
}

}  // namespace

nlohmann::json TuneCurve::to_json() const {
  nlohmann::json rows = nlohmann::json::array();
  for (size_t i = 0; i < budgets.size(); ++i) {
    nlohmann::json r = estimate_json(best[i]);
    r["budget"] = budgets[i];
    r["omega"] = best_omega[i];
    rows.push_back(r);
  }
  return {{"label", label}, {"metric", metric}, {"omega0", estimate_json(zero)}, {"best_per_budget", rows},
          {"nfe", nfe}, {"nfe_omega0", nfe_base}, {"seconds_per_row", seconds}, {"seconds_omega0", seconds_base}};
}

TuneCurve tune_curve(const nlohmann::json& result, const std::string& label, const std::string& what) {
  auto bad = [&](const std::string& why) { return InputError("'" + what + "' is not a sims tune result: " + why); };
  if (!result.is_object() || !result.contains("grid") || !result["grid"].is_object()) throw bad("no grid");
  const nlohmann::json& grid = result["grid"];
  if (!grid.contains("rows") || !grid["rows"].is_array() || !grid.contains("metric") || !grid["metric"].is_string())
    throw bad("the grid has no rows or metric");
  if (!result.contains("labels") || !result.contains("budgets") || !result["labels"].is_array() ||
      !result["budgets"].is_array() || result["labels"].size() != result["budgets"].size())
    throw bad("no auxiliary labels and budgets");
  TuneCurve c;
  c.label = label;
  c.metric = grid["metric"].get<std::string>();
  std::map<std::string, int64_t> budget_of;
  for (size_t i = 0; i < result["labels"].size(); ++i) {
    if (!result["labels"][i].is_string() || !result["budgets"][i].is_number_integer()) throw bad("malformed labels");
    const int64_t b = result["budgets"][i].get<int64_t>();
    if (b <= 0) throw bad("auxiliaries given as files have no budget to plot against");
    budget_of[result["labels"][i].get<std::string>()] = b;
  }
  std::map<int64_t, std::pair<metrics::Estimate, double>> best;
  double guided_seconds = 0;
  int guided_rows = 0;
  bool have_zero = false;
  for (const auto& row : grid["rows"]) {
    if (!row.is_object() || !row.contains("aux") || !row["aux"].is_string()) throw bad("a row without an auxiliary");
    const double omega = num(row, "omega");
    const metrics::Estimate e = estimate(row, c.metric);
    if (!std::isfinite(omega) || !std::isfinite(e.value)) throw bad("a row without omega or " + message_text(c.metric, 60));
    if (omega == 0) {
      if (!have_zero) {
        c.zero = e;
        c.nfe_base = num(row, "nfe");
        c.seconds_base = num(row, "seconds");
      }
      have_zero = true;
      continue;
    }
    const auto b = budget_of.find(row["aux"].get<std::string>());
    if (b == budget_of.end())
      throw bad("row of an unknown auxiliary '" + message_text(row["aux"].get<std::string>(), 60) + "'");
    auto it = best.find(b->second);
    if (it == best.end() || e.value < it->second.first.value) best[b->second] = {e, omega};
    c.nfe = num(row, "nfe");
    guided_seconds += num(row, "seconds");
    ++guided_rows;
  }
  if (!have_zero) throw bad("no omega = 0 row");
  if (best.empty()) throw bad("no omega > 0 row");
  for (const auto& [b, eo] : best) {
    c.budgets.push_back(b);
    c.best.push_back(eo.first);
    c.best_omega.push_back(eo.second);
  }
  c.seconds = guided_seconds / guided_rows;
  return c;
}

render::LinePlot tune_curves_plot(const std::vector<TuneCurve>& curves, const std::string& title) {
  if (curves.empty()) throw InputError("no runs to compare");
  for (const auto& c : curves)
    if (c.metric != curves[0].metric)
      throw InputError("the runs measure different things (" + curves[0].metric + " and " + c.metric + ")");
  const std::string& m = curves[0].metric;
  const std::string metric = m == "energy" ? "energy distance" : m == "w2" ? "W2" : m == "fd" ? "FD" : m;
  render::LinePlot p;
  p.title = title;
  p.x_label = std::string("auxiliary training budget B (") + (m == "fd" ? "images" : "samples") + " seen)";
  p.y_label = metric + " (lower is better)";
  p.subtitle = "each point: the lowest " + metric + " over \u03c9 > 0 at that B (runs set side by side); bars: 95 % "
               "bootstrap intervals; ring: the lowest point (tune chooses the surest gain, which may differ)";
  p.log_x = true;
  p.mark_best = true;
  p.dodge_px = 10;  // the runs' bars at the same B do not hide each other
  int64_t lo = curves[0].budgets.front(), hi = curves[0].budgets.back();
  for (size_t i = 0; i < curves.size(); ++i) {
    const TuneCurve& c = curves[i];
    lo = std::min(lo, c.budgets.front());
    hi = std::max(hi, c.budgets.back());
    render::Series s;
    s.label = c.label;
    s.colour = render::palette(i);
    for (size_t k = 0; k < c.budgets.size(); ++k) {
      s.x.push_back(static_cast<double>(c.budgets[k]));
      s.y.push_back(c.best[k].value);
      s.lo.push_back(c.best[k].lo);
      s.hi.push_back(c.best[k].hi);
    }
    p.series.push_back(std::move(s));
  }
  render::Series base;
  // The base's own value carries its interval in the legend (a dashed line has no bars).
  base.label = "base (\u03c9 = 0): " + curves[0].zero.text(std::abs(curves[0].zero.value) >= 10 ? 1 : 4);
  base.reference = true;
  base.colour = {110, 110, 110};
  base.x = {static_cast<double>(lo), static_cast<double>(hi)};
  base.y = {curves[0].zero.value, curves[0].zero.value};
  p.series.push_back(std::move(base));
  p.width = 720;
  p.height = 460;
  return p;
}

}  // namespace sims::loops
