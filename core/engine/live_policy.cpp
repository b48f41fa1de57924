#include "engine/live_policy.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <optional>
#include <fstream>
#include <sstream>

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include "common/error.hpp"
#include "common/json_parse.hpp"

namespace sims::engine {
namespace {

std::string ms_text(double seconds) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.0f", seconds * 1000);
  return buf;
}

int64_t rows_of(const LiveResult& r) { return r.x.defined() && r.x.dim() > 0 ? r.x.size(0) : 0; }

bool is_points(const LiveResult& r) { return r.x.defined() && r.x.dim() == 2; }

}  // namespace

std::string LiveStatus::label() const {
  if (detail.empty()) return headline;
  if (headline.empty()) return detail;
  return headline + " · " + detail;
}

LiveResultLabels labels_of(const LiveResult& r) {
  LiveResultLabels l;
  const LiveRequest& q = r.request;
  const std::string rows = std::to_string(rows_of(r)), steps = std::to_string(q.run_config().steps);
  l.noun = is_points(r) ? "points" : "images";
  l.quality = q.preview ? "preview" : "full quality";  // not "final": a scrubbed view shows an earlier step of it
  if (q.preview) l.note = "preview (" + rows + " of " + std::to_string(q.n) + " " + l.noun + ", " + steps + " steps)";
  l.footer = l.quality + " · " + rows + " " + l.noun + " · NFE " + std::to_string(r.nfe) + " · " +
             ms_text(r.compute_seconds) + " ms";
  return l;
}

bool same_full_request(const LiveRequest& a, const LiveRequest& b) {
  const SamplerConfig &x = a.sampler, &y = b.sampler;
  return a.base == b.base && a.aux == b.aux && a.guidance.omega == b.guidance.omega && a.guidance.lo == b.guidance.lo &&
         a.guidance.hi == b.guidance.hi && x.kind == y.kind && x.steps == y.steps && x.sigma_min == y.sigma_min &&
         x.sigma_max == y.sigma_max && x.rho == y.rho && x.churn == y.churn && a.n == b.n && a.seed == b.seed &&
         a.compare_base == b.compare_base && a.compare_omega == b.compare_omega && a.preview == b.preview &&
         a.refine == b.refine;
}

LivePolicy::LivePolicy(LiveTarget& target, LivePolicyOptions opts) : target_(target), opts_(opts) {}

// [SECTION] Requests ------------------------------------------------------------------------------

int LivePolicy::image_preview_steps() const {
  const int most = opts_.preview_steps, least = std::min(opts_.min_preview_steps, most);
  if (image_eval_seconds_ <= 0) return most;
  // Heun with N steps, guided: 2(2N-1) evaluations of each preview image, so
  // N = (budget + 2·e·p) / (4·e·p) fits the budget. Clamped as a double first:
  // a tiny e would overflow an int.
  const double e = image_eval_seconds_, p = static_cast<double>(std::max<int64_t>(opts_.preview_images, 1));
  const double n = (opts_.preview_budget_seconds + 2.0 * e * p) / (4.0 * e * p);
  return static_cast<int>(std::clamp(n, static_cast<double>(least), static_cast<double>(most)));
}

LiveRequest LivePolicy::build(const LiveSettings& s, bool preview) const {
  LiveRequest r;
  r.base = s.base;
  r.aux = s.aux;
  if (!r.base) return r;
  if (r.aux && r.aux->info().sample_shape != r.base->info().sample_shape) r.aux = nullptr;
  r.guidance.omega = r.aux ? s.omega : 0.0;
  r.guidance.lo = s.lo;
  r.guidance.hi = s.hi;
  r.sampler = s.sampler;
  const bool points = r.base->info().sample_shape.size() == 1;
  r.n = points ? s.points : std::min<int64_t>(s.points, opts_.max_images);
  r.seed = s.seed;
  r.preview = preview;
  r.preview_points = opts_.preview_points;
  if (!points) {
    // A full grid takes seconds on a CPU: a few images with few steps first,
    // then the full grid replaces them (both cancelled by a newer request;
    // the networks see a few images at a time so that happens quickly).
    r.preview_points = opts_.preview_images;
    r.preview_steps = image_preview_steps();
    r.refine = !preview;
    r.block_rows = opts_.block_rows;
  }
  r.compare_base = s.compare && r.aux;
  r.compare_omega = r.compare_base ? s.compare_omega : 0.0;
  return r;
}

LiveReaction LivePolicy::drag(const LiveSettings& s) {
  settings_ = s;
  held_ = true;
  return request(true);
}

LiveReaction LivePolicy::commit(const LiveSettings& s) {
  settings_ = s;
  held_ = false;
  return request(false);
}

LiveReaction LivePolicy::models_changed(const LiveSettings& s) {
  settings_ = s;
  shown_.reset();
  image_eval_seconds_ = 0;
  return request(false);
}

LiveReaction LivePolicy::request(bool preview) {
  LiveReaction out;
  if (preview && preview_stamp_ != 0) {
    preview_wanted_ = true;  // sent when the preview in flight is shown
    return out;
  }
  preview_stamp_ = 0;
  preview_wanted_ = false;
  if (!settings_.base) {
    target_.cancel();
    full_stamp_ = 0;
    status_.line = "no base model";
    status_.busy = false;  // nothing runs: no Stop
    out.shown = out.status = true;
    return out;
  }
  LiveRequest r = build(settings_, preview);
  if (!preview && full_stamp_ != 0 && full_stamp_ == target_.latest_stamp() && same_full_request(r, full_req_)) {
    // Already in flight (started while the control was held still) or on screen.
    if (shown_stamp_ == full_stamp_ && !shown_preview_) {
      status_.busy = false;
      out.status = true;
    }
    return out;
  }
  const bool refine = r.refine;
  if (!preview) full_req_ = r;
  const uint64_t stamp = target_.submit(std::move(r));
  if (preview) preview_stamp_ = stamp;
  else full_stamp_ = stamp;
  if (preview) set_status("previewing…", "previewing…", "", true);
  else if (refine) set_status("sampling…", "sampling: a quick preview first, then the full grid…", "", true);
  else set_status("sampling…", "sampling…", "", true);
  out.status = true;
  return out;
}

// [SECTION] Results, errors, stop -----------------------------------------------------------------

LiveReaction LivePolicy::result(const LiveResultPtr& r) {
  LiveReaction out;
  if (!r) return out;
  const bool preview_done = r->stamp == preview_stamp_;
  if (preview_done) preview_stamp_ = 0;
  // An older request finished after a newer one was shown; under the same
  // stamp only a refinement replaces its preview.
  if (r->stamp < shown_stamp_ || (r->stamp == shown_stamp_ && (!shown_preview_ || r->request.preview))) {
    // A dropped preview still frees the slot for the moves made meanwhile.
    if (preview_done && preview_wanted_) return request(true);
    return out;
  }
  shown_stamp_ = r->stamp;
  shown_preview_ = r->request.preview;
  shown_ = r;
  out.shown = true;
  if (r->x.defined() && r->x.dim() > 2 && r->nfe > 0 && r->reused_steps == 0 && r->compute_seconds > 0) {
    const double per = r->compute_seconds / (static_cast<double>(rows_of(*r)) * r->nfe);
    image_eval_seconds_ = image_eval_seconds_ > 0 ? 0.5 * (image_eval_seconds_ + per) : per;
  }
  const LiveRequest& q = r->request;
  const LiveResultLabels l = labels_of(*r);
  const std::string rows = std::to_string(rows_of(*r)), steps = std::to_string(q.run_config().steps);
  const std::string reused = r->reused_steps > 0 ? " (" + std::to_string(r->reused_steps) + " steps reused)" : "";
  const std::string line = (q.preview ? "preview: " : "") + rows + " " + l.noun + " × " + steps + " steps · " +
                           ms_text(r->compute_seconds) + " ms" + reused + " · NFE " + std::to_string(r->nfe);
  const std::string detail =
      q.preview ? rows + " of " + std::to_string(q.n) + " " + l.noun + " · " + steps + " steps" +
                      (r->refining ? " — computing the full result…" : "")
                : rows + " " + l.noun + " · " + steps + " steps · " + ms_text(r->compute_seconds) + " ms";
  set_status(line, l.quality, detail, r->refining || (preview_done && preview_wanted_));
  out.status = true;
  if (preview_done && preview_wanted_) {
    request(true);
  } else if (preview_done && held_ && is_points(*r)) {
    // A drag preview arrived and the control has not moved since: the user is
    // looking at these settings, so their full run starts now rather than at
    // the release (a move cancels it; the release finds it in flight or done).
    request(false);
  }
  return out;
}

LiveReaction LivePolicy::error(uint64_t stamp) {
  if (stamp == preview_stamp_) preview_stamp_ = 0, preview_wanted_ = false;
  if (stamp == full_stamp_) full_stamp_ = 0;  // a retry of the same request runs again
  set_status("sampling failed", "sampling failed (see the messages below)", "", false);
  return {false, true};
}

LiveReaction LivePolicy::stop() {
  target_.cancel();
  preview_stamp_ = 0;
  preview_wanted_ = false;
  set_status("sampling stopped", "stopped", shown_ ? "showing the last result" : "", false);
  return {false, true};
}

void LivePolicy::set_status(std::string line, std::string headline, std::string detail, bool busy) {
  status_.line = std::move(line);
  status_.headline = std::move(headline);
  status_.detail = std::move(detail);
  status_.busy = busy;
}

at::Tensor guidance_field(Denoiser& base, Denoiser& aux, const Guidance& g, double sigma, double x0, double x1,
                          double y0, double y1, int nx, int ny) {
  const auto& bs = base.info().sample_shape;
  if (bs.size() != 1 || bs[0] != 2 || aux.info().sample_shape != bs)
    throw InputError("the guidance field needs a 2D base and auxiliary (sample shape 2)");
  if (nx < 1 || ny < 1 || nx > 1024 || ny > 1024) throw InputError("guidance field: the grid must be 1..1024 cells a side");
  if (!(sigma > 0) || !std::isfinite(sigma)) throw InputError("guidance field: sigma must be a positive number");
  if (!(x1 > x0) || !(y1 > y0) || !std::isfinite(x1 - x0) || !std::isfinite(y1 - y0))
    throw InputError("guidance field: the box needs x0 < x1 and y0 < y1");
  c10::InferenceMode guard;
  const auto f64 = at::TensorOptions().dtype(at::kDouble);
  const at::Tensor xs = (at::arange(nx, f64) + 0.5) * ((x1 - x0) / nx) + x0;
  const at::Tensor ys = (at::arange(ny, f64) + 0.5) * ((y1 - y0) / ny) + y0;
  const at::Tensor pts = at::stack({xs.repeat({ny}), ys.repeat_interleave(nx)}, 1);  // [ny*nx, 2], row-major from y0
  at::Tensor field = at::zeros_like(pts);
  if (g.applies(sigma) && g.omega != 0) {
    const int64_t n = pts.size(0);
    const at::Tensor s = at::full({n}, sigma, f64);
    // The points go to each model's device and the field comes back to the CPU.
    const at::Tensor db = base.denoise(pts.to(base.device(), base.input_dtype()), s.to(base.device(), base.input_dtype()))
                              .to(at::kCPU, at::kDouble);
    const at::Tensor da = aux.denoise(pts.to(aux.device(), aux.input_dtype()), s.to(aux.device(), aux.input_dtype()))
                              .to(at::kCPU, at::kDouble);
    field = (db - da) * (g.omega / (sigma * sigma));
  }
  return at::cat({pts, field}, 1);
}

// [SECTION] Session files ---------------------------------------------------------------------

namespace {
constexpr const char* kSessionFormat = "sims-studio-session";
}

LiveSession read_live_session(const std::string& path, const LiveSession& defaults) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::exists(path, ec)) throw InputError("the file does not exist");
  const auto size = fs::file_size(path, ec);
  if (ec) throw InputError("the file cannot be read");
  if (size > (4u << 20)) throw InputError("the file is too large to be a session");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError("the file cannot be read");
  std::stringstream buf;
  buf << in.rdbuf();
  const nlohmann::json root = parse_json_bounded(buf.str(), "the session");
  if (!root.is_object() || !root.contains("format") || root["format"] != kSessionFormat)
    throw InputError(std::string("not a SIMS Studio session (no \"format\": \"") + kSessionFormat + "\")");
  if (!root.contains("version") || root["version"] != 1)
    throw InputError("unsupported session version (this program reads version 1)");

  LiveSession s = defaults;
  const fs::path dir = fs::absolute(fs::path(path), ec).parent_path();
  const nlohmann::json none = nlohmann::json::object();
  auto object = [&](const char* key) -> const nlohmann::json& {
    if (!root.contains(key)) return none;
    if (!root[key].is_object()) throw InputError(std::string("\"") + key + "\" must be an object");
    return root[key];
  };
  const nlohmann::json& m = object("models");
  auto file_of = [&](const char* key) -> std::string {
    if (!m.contains(key)) return {};
    if (!m[key].is_string()) throw InputError(std::string("\"models.") + key + "\" must be a file name");
    const std::string p = m[key].get<std::string>();
    return p.empty() || fs::path(p).is_absolute() ? p : (dir / p).lexically_normal().string();
  };
  s.base = file_of("base");
  s.aux = file_of("aux");
  if (s.base.empty()) throw InputError("it names no base model");

  const nlohmann::json& g = object("guidance");
  auto number = [&](const char* key, double lo, double hi, const char* why) -> std::optional<double> {
    if (!g.contains(key)) return std::nullopt;
    const auto& v = g[key];
    if (!v.is_number() || !(v.get<double>() >= lo && v.get<double>() <= hi)) throw InputError(why);
    return v.get<double>();
  };
  auto whole = [](double v) { return v == std::floor(v); };
  if (auto v = number("omega", -1.0, 3.0, "\"omega\" must be a number in [-1, 3]")) s.omega = *v;
  if (auto v = number("lo", 0.0, 1e6, "\"lo\" must be a number >= 0")) s.lo = *v;
  if (auto v = number("steps", 2, 256, "\"steps\" must be a whole number in [2, 256]")) {
    if (!whole(*v)) throw InputError("\"steps\" must be a whole number in [2, 256]");
    s.steps = static_cast<int>(*v);
  }
  if (auto v = number("points", 16, 200000, "\"points\" must be a whole number in [16, 200000]")) {
    if (!whole(*v)) throw InputError("\"points\" must be a whole number in [16, 200000]");
    s.points = static_cast<int64_t>(*v);
  }
  if (g.contains("hi")) {
    const auto& v = g["hi"];
    if (v.is_string() && v.get<std::string>() == "inf") s.hi = std::numeric_limits<double>::infinity();
    else if (v.is_number() && v.get<double>() > 0) s.hi = v.get<double>();
    else throw InputError("\"hi\" must be a positive number or \"inf\"");
  }
  if (!(s.hi > s.lo)) throw InputError("the guidance interval needs lo < hi");
  if (g.contains("sampler")) {
    const auto& v = g["sampler"];
    if (v == "heun") s.sampler = SamplerKind::Heun;
    else if (v == "euler") s.sampler = SamplerKind::Euler;
    else throw InputError("\"sampler\" must be \"heun\" or \"euler\"");
  }
  if (g.contains("seed")) {
    const auto& v = g["seed"];
    const char* why = "\"seed\" must be a whole number in [0, 2^30]";
    double d = -1;
    if (v.is_number()) d = v.get<double>();
    else if (v.is_string()) {
      const std::string t = v.get<std::string>();
      if (t.empty() || t.size() > 12 || t.find_first_not_of("0123456789") != std::string::npos) throw InputError(why);
      d = std::stod(t);
    }
    if (!(d >= 0 && d <= double(1u << 30) && whole(d))) throw InputError(why);
    s.seed = static_cast<uint64_t>(d);
  }
  if (g.contains("compare")) {
    if (!g["compare"].is_boolean()) throw InputError("\"compare\" must be true or false");
    s.compare = g["compare"].get<bool>();
  }
  const nlohmann::json& v = object("step_viewer");
  if (v.contains("mode")) {
    if (v["mode"] == "x_t") s.denoised = false;
    else if (v["mode"] == "denoised") s.denoised = true;
    else throw InputError("\"step_viewer.mode\" must be \"x_t\" or \"denoised\"");
  }
  if (v.contains("trails")) {
    if (!v["trails"].is_boolean()) throw InputError("\"step_viewer.trails\" must be true or false");
    s.trails = v["trails"].get<bool>();
  }
  if (root.contains("tab")) {
    if (!root["tab"].is_string()) throw InputError("\"tab\" must be a tab's name");
    s.tab = root["tab"].get<std::string>();
  }
  return s;
}

std::string live_session_text(const LiveSession& s) {
  nlohmann::json g = {{"omega", s.omega},
                      {"lo", s.lo},
                      {"steps", s.steps},
                      {"sampler", s.sampler == SamplerKind::Euler ? "euler" : "heun"},
                      {"seed", std::to_string(s.seed)},
                      {"points", s.points},
                      {"compare", s.compare}};
  g["hi"] = std::isfinite(s.hi) ? nlohmann::json(s.hi) : nlohmann::json("inf");
  nlohmann::json root = {{"format", kSessionFormat},
                         {"version", 1},
                         {"models", {{"base", s.base}, {"aux", s.aux}}},
                         {"guidance", g},
                         {"step_viewer", {{"mode", s.denoised ? "denoised" : "x_t"}, {"trails", s.trails}}}};
  if (!s.tab.empty()) root["tab"] = s.tab;
  return root.dump(4) + "\n";
}

}  // namespace sims::engine
