#include "live_app.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <sstream>
#include <string>

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include "common/device.hpp"
#include "common/error.hpp"
#include "common/paths.hpp"
#include "data/toy2d.hpp"
#include "io/atomic_file.hpp"
#include "loops/tune.hpp"
#include "render/animation.hpp"
#include "render/canvas.hpp"
#include "render/plot.hpp"
#include "sampling/schedule.hpp"
#include "training/pairing.hpp"
#include "common/json_parse.hpp"

namespace sims::live {
namespace fs = std::filesystem;

// [SECTION] Small pieces ---------------------------------------------------------------------

bool PointsDraw::operator==(const PointsDraw& o) const {
  return box == o.box && width == o.width && height == o.height && step == o.step && denoised == o.denoised &&
         data == o.data && density == o.density && points == o.points && trails == o.trails && field == o.field &&
         point_size == o.point_size && guided == o.guided;
}

AtlasLayout atlas_layout(int n, int img_h, int img_w) {
  AtlasLayout a;
  a.n = std::max(n, 0);
  a.cols = std::max(1, static_cast<int>(std::ceil(std::sqrt(static_cast<double>(std::max(n, 1))))));
  a.rows = std::max(1, (a.n + a.cols - 1) / a.cols);
  a.cell_w = img_w + a.pad;
  a.cell_h = img_h + a.pad;
  a.width = a.cols * a.cell_w + a.pad;
  a.height = a.rows * a.cell_h + a.pad;
  return a;
}

ImageGrid fit_image_grid(int n, int cell_w, int cell_h, int pad, float width, float height) {
  ImageGrid best;
  best.zoom = -1;
  n = std::max(n, 1);
  for (int cols = 1; cols <= n; ++cols) {
    const int rows = (n + cols - 1) / cols;
    if (cols > 1 && (rows - 1) * cols >= n) continue;  // a row left empty: fewer columns do the same
    float zoom = std::min(width / static_cast<float>(cols * cell_w + pad), height / static_cast<float>(rows * cell_h + pad));
    if (zoom >= 1) zoom = std::floor(zoom);
    const bool better = zoom > best.zoom + 1e-6f ||
                        (std::abs(zoom - best.zoom) <= 1e-6f && cols * rows - n < best.cols * best.rows - n);
    if (better) best = {cols, rows, zoom};
  }
  return best;
}

ImVec2 AtlasLayout::uv0(int i) const {
  const int c = i % cols, r = i / cols;
  return {float(pad + c * cell_w) / width, float(pad + r * cell_h) / height};
}

ImVec2 AtlasLayout::uv1(int i) const {
  const int c = i % cols, r = i / cols;
  return {float(c * cell_w + cell_w) / width, float(r * cell_h + cell_h) / height};
}

void Mailbox::set_wake(std::function<void()> wake) {
  std::lock_guard<std::mutex> lock(mu_);
  wake_ = std::move(wake);
}

void Mailbox::wake() {
  std::function<void()> w;
  {
    std::lock_guard<std::mutex> lock(mu_);
    w = wake_;
  }
  if (w) w();
}

void Mailbox::post_result(engine::LiveResultPtr r) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    items_.push_back({std::move(r), 0, {}});
  }
  wake();
}

void Mailbox::post_error(uint64_t stamp, std::string message) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    items_.push_back({nullptr, stamp, std::move(message)});
  }
  wake();
}

std::vector<Mailbox::Item> Mailbox::take() {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<Item> out;
  out.swap(items_);
  return out;
}

FieldWorker::FieldWorker(std::function<void()> wake) : wake_(std::move(wake)), thread_([this] { loop(); }) {}

FieldWorker::~FieldWorker() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void FieldWorker::submit(Request r) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    pending_ = std::move(r);
  }
  cv_.notify_all();
}

std::optional<FieldWorker::Result> FieldWorker::take() {
  std::lock_guard<std::mutex> lock(mu_);
  std::optional<Result> out;
  out.swap(done_);
  return out;
}

void FieldWorker::loop() {
  c10::InferenceMode guard;
  for (;;) {
    Request r;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [&] { return stop_ || pending_; });
      if (stop_) return;
      r = std::move(*pending_);
      pending_.reset();
    }
    Result out;
    out.stamp = r.stamp;
    try {
      out.field = engine::guidance_field(*r.base, *r.aux, r.g, r.sigma, r.box.x0, r.box.x1, r.box.y0, r.box.y1, r.nx, r.ny);
    } catch (const std::exception& e) {
      out.error = sims::error_words(e);
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (!pending_) done_ = std::move(out);  // a newer request is waiting: this one is stale
    }
    if (wake_) wake_();
  }
}

SweepWorker::SweepWorker(std::function<void()> wake) : wake_(std::move(wake)) {}

SweepWorker::~SweepWorker() { cancel(); }

void SweepWorker::cancel(bool clear) {
  cancel_ = true;
  if (thread_.joinable()) thread_.join();
  running_ = false;
  std::lock_guard<std::mutex> lock(mu_);
  cancelled_ = !rows_.empty() && verdict_.empty();
  if (clear) rows_.clear(), verdict_.clear(), error_.clear(), cancelled_ = false;
}

void SweepWorker::start(Job job) {
  cancel(true);
  cancel_ = false;
  running_ = true;
  thread_ = std::thread([this, job = std::move(job)] { run(job); });
}

bool SweepWorker::cancelled() const {
  std::lock_guard<std::mutex> lock(mu_);
  return cancelled_;
}

bool SweepWorker::running() const { return running_; }

std::vector<metrics::SweepRow> SweepWorker::rows() const {
  std::lock_guard<std::mutex> lock(mu_);
  return rows_;
}

std::string SweepWorker::verdict() const {
  std::lock_guard<std::mutex> lock(mu_);
  return verdict_;
}

std::string SweepWorker::error() const {
  std::lock_guard<std::mutex> lock(mu_);
  return error_;
}

void SweepWorker::run(Job job) {
  c10::InferenceMode guard;
  metrics::SweepReference ref;
  ref.real_points = job.real;
  metrics::SweepConfig cfg;
  cfg.sampler = job.sampler;
  cfg.n = job.n;
  cfg.seed = job.seed;
  cfg.point_metric = "energy";
  cfg.ci = 200;
  cfg.intervals = {{job.g.lo, job.g.hi}};
  metrics::SweepResult all;
  try {
    for (double w : job.omegas) {
      if (cancel_) break;
      cfg.omegas = {w};
      metrics::SweepResult r = metrics::run_sweep(job.base, {{"aux", job.aux}}, cfg, ref, nullptr, nullptr, {}, &cancel_);
      if (all.rows.empty()) all = r;
      else all.rows.push_back(r.rows.at(0));
      // The gain over omega = 0 with a paired interval: both rows start from the same noise.
      metrics::add_paired_gains(all, cfg, ref);
      {
        std::lock_guard<std::mutex> lock(mu_);
        rows_.clear();
        for (const auto& row : all.rows) {
          rows_.push_back(row);
          rows_.back().kept = at::Tensor();  // the plot needs the numbers only
        }
      }
      if (wake_) wake_();
    }
    if (!cancel_) {
      const std::vector<std::string> v = all.verdicts();
      std::lock_guard<std::mutex> lock(mu_);
      verdict_ = v.empty() ? std::string() : v.front();
    }
  } catch (const Cancelled&) {
  } catch (const std::exception& e) {
    std::lock_guard<std::mutex> lock(mu_);
    error_ = sims::error_words(e);
  }
  running_ = false;
  if (wake_) wake_();
}

namespace {

std::string fmt(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

std::string sigma_text(double s) {
  if (!std::isfinite(s)) return "\u221e";  // as the Studio writes it (DejaVu Sans has it)
  if (s == 0) return "0";
  return fmt(s >= 10 ? "%.0f" : s >= 1 ? "%.2f" : s >= 0.01 ? "%.3f" : "%.4f", s);
}

// RMS distance of the rows of x [n, 2] from their mean.
double spread(const at::Tensor& x) {
  if (!x.defined() || x.dim() < 2 || x.size(0) == 0) return 0;
  const at::Tensor c = x.flatten(1).to(at::kDouble);
  return std::sqrt((c - c.mean(0, true)).pow(2).sum(1).mean().item<double>());
}

// Text over a panel, on a translucent white box so that it stays readable over the samples.
void overlay_text(ImDrawList* dl, ImVec2 pos, ImU32 colour, const std::string& text) {
  const ImVec2 size = ImGui::CalcTextSize(text.c_str());
  dl->AddRectFilled(ImVec2(pos.x - 2, pos.y), ImVec2(pos.x + size.x + 2, pos.y + size.y), IM_COL32(255, 255, 255, 200));
  dl->AddText(pos, colour, text.c_str());
}

// The Studio's and the CLI's colours (render::kBaseColour, kSimsColour): the base in blue, SIMS in red; the
// step and ω cursors in a neutral grey that neither is.
constexpr ImU32 rgb(render::Rgb c, int alpha = 255) { return IM_COL32(c.r, c.g, c.b, alpha); }
const ImU32 kBaseColour = rgb(render::kBaseColour), kSimsColour = rgb(render::kSimsColour);
const ImU32 kCursorColour = IM_COL32(90, 90, 90, 200);

// Text wrapped to the panel at spaces only. ImGui's own wrapping also breaks after '.' and ',', which cut numbers
// in two ("lowers energy by 0." / "00152"). A word wider than the panel keeps its own line.
void text_wrapped_words(const std::string& text) {
  const float width = ImGui::GetContentRegionAvail().x;
  std::string out;  // the lines joined by '\n': one text item, spaced as ImGui's own wrapped text
  std::istringstream paragraphs(text);
  for (std::string para; std::getline(paragraphs, para);) {
    std::istringstream words(para);
    std::string line;
    for (std::string w; words >> w;) {
      const std::string longer = line.empty() ? w : line + " " + w;
      if (!line.empty() && ImGui::CalcTextSize(longer.c_str()).x > width) {
        out += line + "\n";
        line = w;
      } else {
        line = longer;
      }
    }
    out += line + "\n";
  }
  if (!out.empty()) out.pop_back();
  ImGui::TextUnformatted(out.c_str());
}

}  // namespace

// [SECTION] Models ---------------------------------------------------------------------------

LiveApp::LiveApp(engine::LiveTarget& target, Renderer* renderer, Mailbox& mailbox, LiveAppOptions opts)
    : target_(target), renderer_(renderer), mailbox_(mailbox), opts_(opts) {
  policy_ = std::make_unique<engine::LivePolicy>(target_, opts_.policy);
  field_ = std::make_unique<FieldWorker>([this] { mailbox_.wake(); });
  sweep_ = std::make_unique<SweepWorker>([this] { mailbox_.wake(); });
  settings_.sampler.steps = 32;
  view_.trails = false;
  for (const char* name : {"gaussian", "grid25", "faces"}) {
    try {
      shipped_.push_back({name, asset_path(std::string("models/") + name + "-base.ckpt"),
                          asset_path(std::string("models/") + name + "-aux.ckpt")});
    } catch (const std::exception&) {
      // no shipped data found: files only
    }
  }
  std::error_code ec;
  dir_ = fs::current_path(ec).string();
}

LiveApp::~LiveApp() {
  sweep_.reset();
  policy_.reset();
  field_.reset();
}

bool LiveApp::open_pair(const std::string& base, const std::string& aux, std::string* error) {
  DenoiserPtr b, a;
  try {
    LoadOptions lo;
    lo.device = face_device();  // sims-live --device
    b = load_denoiser(base, lo);
    if (!aux.empty()) a = load_denoiser(aux, lo);
  } catch (const std::exception& e) {
    last_error_ = std::string("cannot load the pair (nothing was changed): ") + sims::error_words(e);
    if (error) *error = last_error_;
    return false;
  }
  if (a && a->info().sample_shape != b->info().sample_shape) {
    last_error_ = "not a pair (nothing was changed): the base makes " + shape_to_string(b->info().sample_shape) +
                  " samples, the auxiliary " + shape_to_string(a->info().sample_shape);
    if (error) *error = last_error_;
    return false;
  }
  base_path_ = base;
  aux_path_ = aux;
  shipped_index_ = -1;  // the combo finds the shipped pair these files are, if any
  pair_note_.clear();
  double omega = settings_.omega;
  if (!aux.empty()) {
    try {
      if (auto t = loops::read_tuned_pair(aux)) {
        // A tuning without a significant gain does not move ω there (it may make the samples worse).
        if (t->significant) omega = t->omega;
        pair_note_ = (t->significant ? "tuned pair, ω = " : "tuned pair without a significant gain (ω stays), tuned ω = ") +
                     fmt("%g", t->omega) + ": " + metrics::omega_as_symbol(t->summary());
      }
    } catch (const std::exception& e) {
      pair_note_ = std::string("tune file unreadable: ") + sims::error_words(e);
    }
  }
  pair_warning_.clear();
  if (a) {
    ModelInfo bi = b->info(), ai = a->info();  // the panel names files, not paths
    bi.path = fs::path(base).filename().string(), ai.path = fs::path(aux).filename().string();
    pair_warning_ = pairing_doubt(bi, ai);
  }
  settings_.omega = omega;
  set_models(std::move(b), std::move(a));
  return true;
}

void LiveApp::set_models(DenoiserPtr base, DenoiserPtr aux) {
  settings_.base = std::move(base);
  settings_.aux = std::move(aux);
  const auto& shape = settings_.base->info().sample_shape;
  is_2d_ = shape.size() == 1 && shape[0] == 2;
  reference_ = is_2d_ ? data::training_points(settings_.base->info().provenance, 4000, &reference_name_) : at::Tensor();
  if (!reference_.defined()) reference_name_.clear();
  if (renderer_) renderer_->set_reference(reference_);
  if (renderer_) renderer_->set_field({}, 0);
  settings_.points = is_2d_ ? std::max<int64_t>(settings_.points, 16) : settings_.points;
  last_error_.clear();
  on_models_changed();
}

void LiveApp::on_models_changed() {
  if (sweep_) sweep_->cancel(true);
  uploaded_ = nullptr;
  step_ = -1;
  playing_ = false;
  follow_ = true, box_valid_ = false;
  spread_base_.clear();
  spread_sims_.clear();
  field_key_.clear();
  apply(policy_->models_changed(settings_));
}

engine::LiveSession LiveApp::session() const {
  engine::LiveSession s;
  std::error_code ec;
  // Absolute: a session is read relative to its own folder, not to where this program was started.
  s.base = base_path_.empty() ? std::string() : fs::absolute(base_path_, ec).string();
  s.aux = aux_path_.empty() ? std::string() : fs::absolute(aux_path_, ec).string();
  s.omega = settings_.omega, s.lo = settings_.lo, s.hi = settings_.hi, s.steps = settings_.sampler.steps;
  s.sampler = settings_.sampler.kind, s.seed = settings_.seed, s.points = settings_.points, s.compare = settings_.compare;
  s.denoised = denoised_, s.trails = view_.trails;
  return s;
}

void LiveApp::apply_session(const engine::LiveSession& s) {
  settings_.omega = s.omega, settings_.lo = s.lo, settings_.hi = s.hi, settings_.sampler.steps = s.steps;
  settings_.sampler.kind = s.sampler, settings_.seed = s.seed, settings_.points = s.points, settings_.compare = s.compare;
  denoised_ = s.denoised;
  view_.trails = s.trails;
}

// The session box shows the file in use (it said session.simsession after `--session other.simsession`). A path
// too long for the box leaves it as it was.
void LiveApp::show_session_path(const std::string& path) {
  if (path.size() < sizeof session_path_) std::snprintf(session_path_, sizeof session_path_, "%s", path.c_str());
}

bool LiveApp::open_session(const std::string& path, std::string* error) {
  engine::LiveSession s;
  try {
    s = engine::read_live_session(path, session());
  } catch (const std::exception& e) {
    last_error_ = "cannot open session '" + path + "': " + sims::error_words(e) + " (nothing was changed)";
    if (error) *error = last_error_;
    return false;
  }
  const double keep_omega = settings_.omega;
  if (!open_pair(s.base, s.aux, error)) {
    settings_.omega = keep_omega;
    last_error_ = "session '" + path + "' was not opened: " + last_error_;
    if (error) *error = last_error_;
    return false;
  }
  apply_session(s);
  show_session_path(path);
  info_ = "opened session " + path;
  commit();
  return true;
}

bool LiveApp::save_session(const std::string& path, std::string* error) {
  engine::LiveSession s = session();
  s.tab = "live";
  try {
    if (base_path_.empty()) throw InputError("no models are loaded");
    if (fs::exists(path)) throw InputError("the file exists (choose another name; nothing is overwritten)");
    const std::string text = engine::live_session_text(s);
    io::write_file_atomically(path, text.data(), text.size());
  } catch (const std::exception& e) {
    last_error_ = "cannot save the session: " + sims::error_words(e);
    if (error) *error = last_error_;
    return false;
  }
  show_session_path(path);
  info_ = "saved session " + path;
  return true;
}

// [SECTION] Results --------------------------------------------------------------------------

void LiveApp::take_posted() {
  for (auto& item : mailbox_.take()) {
    if (item.result) apply(policy_->result(item.result));
    else if (!item.error.empty()) {
      last_error_ = "sampling: " + item.error;
      apply(policy_->error(item.stamp));
    }
  }
  if (!field_) return;
  if (auto f = field_->take()) {
    if (f->stamp != field_stamp_) return;  // superseded
    field_shown_ = f->stamp;
    if (!f->error.empty()) {
      last_error_ = "guidance field: " + f->error;
      return;
    }
    // Arrows scaled so that the 90th percentile of the lengths spans 0.9 of
    // a grid cell; longer ones (far from the data, where the networks
    // extrapolate) are capped at 1.5 cells.
    at::Tensor len = f->field.slice(1, 2, 4).pow(2).sum(1).sqrt();
    field_max_ = len.numel() ? at::quantile(len, 0.9).item<double>() : 0;
    const double cell = (field_box_.x1 - field_box_.x0) / field_nx_;
    at::Tensor capped = f->field.clone();
    if (field_max_ > 0) {
      const at::Tensor k = (1.5 * field_max_ / len.clamp_min(1e-300)).clamp_max(1.0).unsqueeze(1);
      capped.slice(1, 2, 4).mul_(k);
    }
    if (renderer_) renderer_->set_field(capped, field_max_ > 0 ? 0.9 * cell / field_max_ : 0);
  }
}

void LiveApp::apply(const engine::LiveReaction& r) {
  if (!r.shown) return;
  const engine::LiveResultPtr& s = policy_->shown();
  if (!s) {
    uploaded_ = nullptr;
    return;
  }
  if (s.get() == uploaded_) return;
  uploaded_ = s.get();
  uploaded_stamp_ = s->stamp;
  uploaded_preview_ = s->request.preview;
  ++uploads_;
  if (renderer_) renderer_->upload(*s);
  spread_base_.clear();
  spread_sims_.clear();
  for (size_t k = 0; k < s->trajectory.states.size(); ++k)
    spread_sims_.push_back({s->trajectory.t[k], spread(s->trajectory.states[k])});
  for (size_t k = 0; k < s->base_trajectory.states.size(); ++k)
    spread_base_.push_back({s->base_trajectory.t[k], spread(s->base_trajectory.states[k])});
  field_key_.clear();
}

const engine::LiveResult* LiveApp::shown() const { return policy_->shown().get(); }

uint64_t LiveApp::shown_stamp() const { return shown() ? shown()->stamp : 0; }
bool LiveApp::shown_final() const { return shown() && !shown()->request.preview; }

const Trajectory* LiveApp::trajectory(int panel) const {
  const engine::LiveResult* r = shown();
  if (!r) return nullptr;
  const Trajectory& t = panel == 0 ? r->base_trajectory : r->trajectory;
  return t.states.empty() ? nullptr : &t;
}

int LiveApp::steps_shown() const {
  const Trajectory* t = trajectory(1);
  return t ? static_cast<int>(t->states.size()) - 1 : 0;
}

int LiveApp::step() const {
  const int n = steps_shown();
  return step_ < 0 || step_ > n ? n : step_;
}

void LiveApp::set_step(int k) {
  const int n = steps_shown();
  step_ = k < 0 || k >= n ? -1 : k;
  if (step_ < 0) playing_ = false;
}

double LiveApp::sigma_at(int k) const {
  const Trajectory* t = trajectory(1);
  if (!t || t->t.empty()) return 0;
  return t->t[std::clamp<size_t>(static_cast<size_t>(std::max(k, 0)), 0, t->t.size() - 1)];
}

// [SECTION] Requests -------------------------------------------------------------------------

void LiveApp::commit() {
  if (settings_.base) apply(policy_->commit(settings_));
}

void LiveApp::set_omega(double w, bool drag) {
  settings_.omega = std::clamp(w, -1.0, 3.0);
  if (!settings_.base) return;
  apply(drag ? policy_->drag(settings_) : policy_->commit(settings_));
}

bool LiveApp::animating() const { return playing_; }

bool LiveApp::working() const {
  return policy_->status().busy || (field_stamp_ != 0 && field_stamp_ != field_shown_) || (sweep_ && sweep_->running());
}

void LiveApp::request_field() {
  if (!field_ || !view_.field || !is_2d_ || !settings_.aux || !shown()) return;
  const int n = steps_shown();
  const int k = std::min(step(), n - 1);
  const double sigma = sigma_at(k);
  char key[256];
  std::snprintf(key, sizeof key, "%d %.9g %.9g %.9g %.9g %.9g %.9g %.9g %.9g %llu", k, sigma, panel_box_.x0, panel_box_.x1,
                panel_box_.y0, panel_box_.y1, settings_.omega, settings_.lo, settings_.hi, static_cast<unsigned long long>(uploaded_stamp_));
  if (field_key_ == key) return;
  field_key_ = key;
  FieldWorker::Request r;
  r.base = settings_.base;
  r.aux = settings_.aux;
  r.g = {settings_.omega, settings_.lo, settings_.hi};
  r.sigma = sigma;
  r.box = field_box_ = panel_box_;
  // Square cells: 24 across the longer side.
  const double ax = panel_box_.x1 - panel_box_.x0, ay = panel_box_.y1 - panel_box_.y0;
  r.nx = field_nx_ = ax >= ay ? 24 : std::max(4, static_cast<int>(std::lround(24 * ax / ay)));
  r.ny = ay >= ax ? 24 : std::max(4, static_cast<int>(std::lround(24 * ay / ax)));
  r.stamp = ++field_stamp_;
  field_->submit(std::move(r));
}

// [SECTION] The frame ------------------------------------------------------------------------

void LiveApp::handle_keys() {
  ImGuiIO& io = ImGui::GetIO();
  if (io.WantTextInput) return;
  for (int i = 0; i < io.InputQueueCharacters.Size; ++i) {
    const ImWchar c = io.InputQueueCharacters[i];
    if (c == '[' || c == ']') set_omega(settings_.omega + (c == ']' ? 0.1 : -0.1), false);
  }
  if (ImGui::IsAnyItemActive()) return;
  const int n = steps_shown();
  if (ImGui::IsKeyPressed(ImGui::GetKeyIndex(ImGuiKey_Space), false) && n > 0) toggle_play();
  if (ImGui::IsKeyPressed(ImGui::GetKeyIndex(ImGuiKey_LeftArrow))) {
    playing_ = false;
    step_ = std::max(0, step() - 1);
  }
  if (ImGui::IsKeyPressed(ImGui::GetKeyIndex(ImGuiKey_RightArrow))) {
    playing_ = false;
    set_step(step() + 1);
  }
}

void LiveApp::toggle_play() {
  playing_ = !playing_;
  if (playing_ && step() >= steps_shown()) step_ = 0;  // from the start when at the end
  play_clock_ = 0;
}

void LiveApp::frame() {
  ++frames_;
  take_posted();
  handle_keys();
  ImGuiIO& io = ImGui::GetIO();
  const int n = steps_shown();
  if (playing_ && n > 0) {
    play_clock_ += io.DeltaTime * speed_;
    while (play_clock_ >= 1.0) {
      play_clock_ -= 1.0;
      int k = step() + 1;
      if (k > n) k = loop_ ? 0 : n;
      step_ = k;
      if (k == n && !loop_) playing_ = false;
    }
  }
  ImGui::SetNextWindowPos(ImVec2(0, 0));
  ImGui::SetNextWindowSize(io.DisplaySize);
  ImGui::Begin("sims-live", nullptr,
               ImGuiWindowFlags_NoDecoration | ImGuiWindowFlags_NoMove | ImGuiWindowFlags_NoSavedSettings |
                   ImGuiWindowFlags_NoBringToFrontOnFocus);
  const float side = std::clamp(io.DisplaySize.x * 0.25f, 300.f, 400.f);
  draw_side_panel(side);
  if (!opts_.side_panel_only) {
    ImGui::SameLine();
    ImGui::BeginChild("main", ImVec2(0, 0), false, ImGuiWindowFlags_NoScrollbar | ImGuiWindowFlags_NoScrollWithMouse);
    draw_panels();
    ImGui::EndChild();
  }
  ImGui::End();
  request_field();
}

void LiveApp::draw_side_panel(float width) {
  ImGui::BeginChild("side", ImVec2(width, 0), true);
  ImGui::TextUnformatted("SIMS live");
  ImGui::SameLine();
  ImGui::TextDisabled("D = (1+ω)·D_base − ω·D_aux");
  ImGui::Separator();
  draw_models();
  draw_guidance();
  draw_view_options();
  draw_stats();
  draw_sweep();
  ImGui::Separator();
  const engine::LiveStatus& st = policy_->status();
  text_wrapped_words(st.line.empty() ? "open a pair to start" : st.line);
  if (!last_error_.empty()) ImGui::TextColored(ImVec4(0.75f, 0.1f, 0.1f, 1), "error: %s", last_error_.c_str());
  if (!info_.empty()) ImGui::TextDisabled("%s", info_.c_str());
  ImGui::TextDisabled("keys: [ ] omega · Space play · ← → step");
  ImGui::EndChild();
}

void LiveApp::draw_models() {
  if (!ImGui::CollapsingHeader("Models", ImGuiTreeNodeFlags_DefaultOpen)) return;
  if (shipped_index_ < 0)
    for (int i = 0; i < static_cast<int>(shipped_.size()); ++i)
      if (shipped_[i].base == base_path_ && shipped_[i].aux == aux_path_) shipped_index_ = i;
  const char* preview = shipped_index_ >= 0 ? shipped_[shipped_index_].label.c_str() : "(files)";
  ImGui::SetNextItemWidth(ImGui::GetContentRegionAvail().x - ImGui::CalcTextSize("shipped Files…").x -
                          4 * ImGui::GetStyle().ItemSpacing.x - 2 * ImGui::GetStyle().FramePadding.x);
  if (ImGui::BeginCombo("shipped", preview)) {
    for (int i = 0; i < static_cast<int>(shipped_.size()); ++i)
      if (ImGui::Selectable(shipped_[i].label.c_str(), i == shipped_index_)) {
        open_pair(shipped_[i].base, shipped_[i].aux);
      }
    ImGui::EndCombo();
  }
  ImGui::SameLine();
  if (ImGui::Button("Files…")) files_open_ = !files_open_;
  if (files_open_) draw_file_list();
  if (settings_.base) {
    const ModelInfo& b = settings_.base->info();
    ImGui::TextWrapped("base: %s", fs::path(base_path_).filename().string().c_str());
    ImGui::TextWrapped("aux: %s", aux_path_.empty() ? "(none: plain sampling)" : fs::path(aux_path_).filename().string().c_str());
    const std::string what = is_2d_ ? "2-D points" : shape_to_string(b.sample_shape) + " images";
    ImGui::PushStyleColor(ImGuiCol_Text, ImGui::GetStyleColorVec4(ImGuiCol_TextDisabled));
    ImGui::TextWrapped("%s · %s%s", what.c_str(), b.kind.c_str(),
                        reference_name_.empty() ? "" : (" · grey: training data (" + reference_name_ + ")").c_str());
    ImGui::PopStyleColor();
    if (!pair_warning_.empty()) {
      ImGui::PushStyleColor(ImGuiCol_Text, ImVec4(0.62f, 0.36f, 0.0f, 1));
      text_wrapped_words("warning: " + pair_warning_);
      ImGui::PopStyleColor();
    }
    if (!pair_note_.empty()) text_wrapped_words(pair_note_);
  }
  ImGui::SetNextItemWidth(-130);
  ImGui::InputText("##session", session_path_, sizeof session_path_);
  ImGui::SameLine();
  if (ImGui::Button("Open")) open_session(session_path_);
  ImGui::SameLine();
  if (ImGui::Button("Save")) save_session(session_path_);
}

void LiveApp::draw_file_list() {
  ImGui::BeginChild("files", ImVec2(0, 200), true);
  ImGui::TextWrapped("%s", dir_.c_str());
  std::error_code ec;
  if (ImGui::Selectable("../")) {
    dir_ = fs::path(dir_).parent_path().string();
    dir_files_.clear();
    dir_scanned_ = false;
  }
  if (!dir_scanned_) {
    dir_scanned_ = true;
    std::vector<std::string> dirs, files;
    fs::directory_iterator it(dir_, fs::directory_options::skip_permission_denied, ec), end;
    for (; !ec && it != end; it.increment(ec)) {
      const fs::directory_entry& e = *it;
      const std::string name = e.path().filename().string();
      if (name.empty() || name[0] == '.') continue;
      if (e.is_directory(ec)) dirs.push_back(name + "/");
      else {
        const std::string ext = e.path().extension().string();
        if (ext == ".ckpt" || ext == ".pt" || ext == ".json" || ext == ".safetensors") files.push_back(name);
      }
    }
    std::sort(dirs.begin(), dirs.end());
    std::sort(files.begin(), files.end());
    dir_files_ = dirs;
    dir_files_.insert(dir_files_.end(), files.begin(), files.end());
    pick_base_ = pick_aux_ = -1;
  }
  for (int i = 0; i < static_cast<int>(dir_files_.size()); ++i) {
    const std::string& f = dir_files_[i];
    std::string label = f;
    if (i == pick_base_) label += "   [base]";
    if (i == pick_aux_) label += "   [aux]";
    if (ImGui::Selectable((label + "##" + std::to_string(i)).c_str(), i == pick_base_ || i == pick_aux_)) {
      if (f.back() == '/') {
        dir_ = (fs::path(dir_) / f.substr(0, f.size() - 1)).string();
        dir_files_.clear();
        dir_scanned_ = false;
        break;
      }
      // First click: the base; second: the auxiliary; a third starts over.
      if (pick_base_ < 0 || (pick_aux_ >= 0)) pick_base_ = i, pick_aux_ = -1;
      else if (i != pick_base_) pick_aux_ = i;
    }
  }
  ImGui::EndChild();
  ImGui::BeginDisabled(pick_base_ < 0);
  if (ImGui::Button("Load pair")) {
    const std::string b = (fs::path(dir_) / dir_files_[pick_base_]).string();
    const std::string a = pick_aux_ >= 0 ? (fs::path(dir_) / dir_files_[pick_aux_]).string() : std::string();
    if (open_pair(b, a)) files_open_ = false;
  }
  ImGui::EndDisabled();
  ImGui::SameLine();
  ImGui::TextDisabled("click: base, then auxiliary");
}

void LiveApp::draw_guidance() {
  if (!ImGui::CollapsingHeader("Guidance", ImGuiTreeNodeFlags_DefaultOpen)) return;
  ImGui::BeginDisabled(!settings_.aux);
  float w = static_cast<float>(settings_.omega);
  ImGui::SetNextItemWidth(-70);
  const bool moved = ImGui::SliderFloat("ω", &w, -1.f, 3.f, "%.2f");
  omega_min_ = ImGui::GetItemRectMin();
  omega_max_ = ImGui::GetItemRectMax();
  if (moved) set_omega(w, ImGui::IsItemActive());
  if (ImGui::IsItemDeactivatedAfterEdit()) set_omega(settings_.omega, false);
  draw_interval();
  ImGui::EndDisabled();

  int steps = settings_.sampler.steps;
  ImGui::SetNextItemWidth(-70);
  ImGui::SliderInt("steps", &steps, 4, 128);
  if (steps != settings_.sampler.steps) settings_.sampler.steps = steps;
  if (ImGui::IsItemDeactivatedAfterEdit()) commit();
  int kind = settings_.sampler.kind == SamplerKind::Heun ? 0 : 1;
  ImGui::SetNextItemWidth(-70);
  if (ImGui::Combo("sampler", &kind, "Heun (EDM)\0Euler\0")) {
    settings_.sampler.kind = kind == 0 ? SamplerKind::Heun : SamplerKind::Euler;
    commit();
  }
  int seed = static_cast<int>(settings_.seed);
  ImGui::SetNextItemWidth(-130);
  if (ImGui::InputInt("seed", &seed)) settings_.seed = static_cast<uint64_t>(std::clamp(seed, 0, 1 << 30));
  if (ImGui::IsItemDeactivatedAfterEdit()) commit();
  ImGui::SameLine();
  if (ImGui::Button("new")) {
    settings_.seed = (settings_.seed * 2654435761u + 97) % (1u << 30);
    commit();
  }
  if (is_2d_) {
    int pts = static_cast<int>(settings_.points);
    ImGui::SetNextItemWidth(-70);
    if (ImGui::SliderInt("points", &pts, 100, 100000, "%d", ImGuiSliderFlags_Logarithmic)) settings_.points = pts;
    if (ImGui::IsItemDeactivatedAfterEdit()) commit();
  }
  if (ImGui::Checkbox("side by side on the same noise", &settings_.compare)) commit();
  if (settings_.compare && settings_.aux) {
    // The left panel: the base alone (0), or any other omega.
    float wc = static_cast<float>(settings_.compare_omega);
    ImGui::SetNextItemWidth(-70);
    if (ImGui::SliderFloat("left ω", &wc, -1.f, 3.f, wc == 0 ? "0 (base)" : "%.2f")) {
      settings_.compare_omega = std::abs(wc) < 0.02f ? 0.0 : wc;
      if (ImGui::IsItemActive()) apply(policy_->drag(settings_));
    }
    if (ImGui::IsItemDeactivatedAfterEdit()) commit();
  }
  ImGui::BeginDisabled(!policy_->status().busy);
  if (ImGui::Button("Stop")) apply(policy_->stop());
  ImGui::EndDisabled();
}

// The guidance interval on a log-sigma axis: high noise on the left (where
// sampling starts), the sampler's steps as ticks, the guided range shaded;
// drag either end; the far ends mean "from the start" / "to the end".
void LiveApp::draw_interval() {
  const double smax = settings_.sampler.sigma_max, smin = settings_.sampler.sigma_min;
  const double la = std::log(smax), lb = std::log(smin);
  const float width = ImGui::GetContentRegionAvail().x, height = 30;
  const ImVec2 p0 = ImGui::GetCursorScreenPos();
  ImGui::InvisibleButton("interval", ImVec2(width, height));
  const bool active = ImGui::IsItemActive();
  auto x_of = [&](double s) {
    if (!(s > smin)) return p0.x + width;
    if (!std::isfinite(s) || s >= smax) return p0.x;
    return p0.x + static_cast<float>((std::log(s) - la) / (lb - la)) * width;
  };
  auto sigma_of = [&](float x) {
    const double f = std::clamp((x - p0.x) / width, 0.f, 1.f);
    return std::exp(la + f * (lb - la));
  };
  static int handle = 0;  // 1: hi, 2: lo (one interval widget)
  const float xm = ImGui::GetIO().MousePos.x;
  if (ImGui::IsItemActivated()) handle = std::abs(xm - x_of(settings_.hi)) <= std::abs(xm - x_of(settings_.lo)) ? 1 : 2;
  if (active && ImGui::GetIO().MouseDelta.x != 0) {
    const double s = sigma_of(xm);
    if (handle == 1) settings_.hi = xm <= p0.x + 2 ? std::numeric_limits<double>::infinity() : std::max(s, settings_.lo * 1.0001);
    else settings_.lo = xm >= p0.x + width - 2 ? 0.0 : std::min(s, std::isfinite(settings_.hi) ? settings_.hi / 1.0001 : s);
    if (settings_.aux) apply(policy_->drag(settings_));
  }
  if (ImGui::IsItemDeactivated() && settings_.aux) commit();
  if (ImGui::IsItemHovered() && ImGui::IsMouseDoubleClicked(0)) {
    settings_.lo = 0, settings_.hi = std::numeric_limits<double>::infinity();
    commit();
  }
  ImDrawList* dl = ImGui::GetWindowDrawList();
  const float ya = p0.y + 8, yb = p0.y + 20;
  dl->AddRectFilled(ImVec2(p0.x, ya), ImVec2(p0.x + width, yb), IM_COL32(225, 225, 225, 255));
  dl->AddRectFilled(ImVec2(x_of(settings_.hi), ya), ImVec2(x_of(settings_.lo), yb), rgb(render::kSimsColour, 150));
  SamplerConfig c = settings_.sampler;
  int guided = 0;
  const std::vector<double> t = edm_time_steps(c);
  for (size_t i = 0; i + 1 < t.size(); ++i) {
    const float x = x_of(t[i]);
    dl->AddLine(ImVec2(x, ya - 5), ImVec2(x, yb), IM_COL32(255, 255, 255, 200));
    dl->AddLine(ImVec2(x, ya - 5), ImVec2(x, ya), IM_COL32(60, 60, 60, 255));
    guided += Guidance{settings_.omega, settings_.lo, settings_.hi}.applies(t[i]);
  }
  for (const double s : {settings_.hi, settings_.lo}) {
    const float x = x_of(s);
    dl->AddRectFilled(ImVec2(x - 3, ya - 2), ImVec2(x + 3, yb + 2), IM_COL32(140, 50, 25, 255));
  }
  dl->AddText(ImVec2(p0.x, yb), IM_COL32(90, 90, 90, 255), ("σ " + sigma_text(smax)).c_str());
  const std::string right = sigma_text(smin);
  dl->AddText(ImVec2(p0.x + width - ImGui::CalcTextSize(right.c_str()).x, yb), IM_COL32(90, 90, 90, 255), right.c_str());
  ImGui::Dummy(ImVec2(0, 4));
  // In the ruler's words: an open end (σ_hi = ∞, σ_lo = 0) is the ruler's end, σ_max or σ_min.
  const std::string from = std::isfinite(settings_.hi) && settings_.hi < smax ? "σ " + sigma_text(settings_.hi)
                                                                               : "the start (σ " + sigma_text(smax) + ")";
  const std::string to = settings_.lo > 0 ? "σ " + sigma_text(settings_.lo) : "the end (σ " + sigma_text(smin) + ")";
  ImGui::PushStyleColor(ImGuiCol_Text, ImGui::GetStyleColorVec4(ImGuiCol_TextDisabled));
  // One line where it fits, else broken before "to" (wrapping at the width broke "σ 0.0020" after its point).
  const std::string head = "guided from " + from,
                    tail = "to " + to + ": " + std::to_string(guided) + " of " + std::to_string(t.size() - 1) + " steps";
  ImGui::BeginGroup();
  if (ImGui::CalcTextSize((head + " " + tail).c_str()).x <= ImGui::GetContentRegionAvail().x) {
    ImGui::TextUnformatted((head + " " + tail).c_str());
  } else {
    ImGui::TextWrapped("%s", head.c_str());
    ImGui::TextWrapped("%s", tail.c_str());
  }
  ImGui::EndGroup();
  ImGui::PopStyleColor();
  if (ImGui::IsItemHovered())
    ImGui::SetTooltip("ω applies where σ lies in (σ_lo, σ_hi] = (%s, %s]; double-click the ruler: every step",
                      sigma_text(settings_.lo).c_str(), sigma_text(settings_.hi).c_str());
}

void LiveApp::draw_view_options() {
  if (!ImGui::CollapsingHeader("View", ImGuiTreeNodeFlags_DefaultOpen)) return;
  if (!is_2d_) {
    ImGui::TextDisabled("images: click one to enlarge it");
    return;
  }
  ImGui::Checkbox("training data", &view_.data);
  ImGui::SameLine();
  ImGui::Checkbox("density", &view_.density);
  ImGui::SameLine();
  ImGui::Checkbox("points", &view_.points);
  ImGui::Checkbox("trails", &view_.trails);
  ImGui::SameLine();
  ImGui::BeginDisabled(!settings_.aux);
  ImGui::Checkbox("guidance field", &view_.field);
  ImGui::EndDisabled();
  ImGui::SetNextItemWidth(-90);
  ImGui::SliderFloat("point size", &view_.point_size, 1.f, 8.f, "%.1f");
  if (ImGui::Checkbox("axes follow σ", &follow_) && follow_) box_valid_ = false, update_box();
}

void LiveApp::draw_stats() {
  if (!ImGui::CollapsingHeader("Per-step statistics", ImGuiTreeNodeFlags_DefaultOpen)) return;
  if (spread_sims_.empty()) {
    ImGui::TextDisabled("(after the first result)");
    return;
  }
  ImGui::PushStyleColor(ImGuiCol_Text, ImGui::GetStyleColorVec4(ImGuiCol_TextDisabled));
  ImGui::TextWrapped("RMS spread of x_t per step (log scale): left panel blue, right panel red");
  ImGui::PopStyleColor();
  // Spread of x_t (RMS distance from the mean) against the step, log scale:
  // it falls from about σ_max to the data's own spread.
  const float w = ImGui::GetContentRegionAvail().x, h = 90;
  const ImVec2 p0 = ImGui::GetCursorScreenPos();
  ImGui::Dummy(ImVec2(w, h));
  ImDrawList* dl = ImGui::GetWindowDrawList();
  dl->AddRectFilled(p0, ImVec2(p0.x + w, p0.y + h), IM_COL32(255, 255, 255, 255));
  double lo = 1e300, hi = 0;
  for (const auto* s : {&spread_base_, &spread_sims_})
    for (const auto& v : *s)
      if (v[1] > 0) lo = std::min(lo, v[1]), hi = std::max(hi, v[1]);
  if (!(hi > lo)) hi = lo * 10;
  const size_t n = spread_sims_.size();
  auto pt = [&](size_t k, double v) {
    const float fx = n > 1 ? float(k) / float(n - 1) : 0.f;
    const float fy = float((std::log(std::max(v, lo)) - std::log(lo)) / (std::log(hi) - std::log(lo)));
    return ImVec2(p0.x + 4 + fx * (w - 8), p0.y + h - 14 - fy * (h - 24));
  };
  const float xs = pt(static_cast<size_t>(step()), lo).x;
  dl->AddLine(ImVec2(xs, p0.y + 4), ImVec2(xs, p0.y + h - 12), kCursorColour);
  const std::pair<const std::vector<std::array<double, 2>>*, ImU32> series[] = {{&spread_base_, kBaseColour},
                                                                                 {&spread_sims_, kSimsColour}};
  // The base's line wider, under the guided one: where the two agree (early steps) both stay visible.
  float width = 4.f;
  for (const auto& [s, colour] : series) {
    for (size_t k = 1; k < s->size(); ++k) dl->AddLine(pt(k - 1, (*s)[k - 1][1]), pt(k, (*s)[k][1]), colour, width);
    width = 1.8f;
  }
  // The scale's ends inside the frame, written in full (4390, not 4.39e+03).
  const float line_h = ImGui::GetTextLineHeight();
  for (const auto& [v, y] : {std::pair<double, float>{hi, p0.y + 2}, {lo, p0.y + h - 2 - line_h}}) {
    const std::string t = fmt(v >= 1000 && v < 1e6 ? "%.0f" : "%.3g", v);
    dl->AddText(ImVec2(p0.x + w - 4 - ImGui::CalcTextSize(t.c_str()).x, y), IM_COL32(60, 60, 60, 255), t.c_str());
  }
  const int k = step();
  if (k < static_cast<int>(n)) {
    if (k < static_cast<int>(spread_base_.size()))
      ImGui::TextDisabled("step %d: right %.3f · left %.3f", k, spread_sims_[k][1], spread_base_[k][1]);
    else
      ImGui::TextDisabled("step %d: %.3f", k, spread_sims_[k][1]);
  }
}

bool LiveApp::start_sweep(bool reveal) {
  if (!is_2d_ || !settings_.aux || !reference_.defined()) return false;
  reveal_sweep_ = reveal_sweep_ || reveal;
  SweepWorker::Job j;
  j.base = settings_.base, j.aux = settings_.aux;
  j.real = data::training_points(settings_.base->info().provenance, 0, nullptr, metrics::kEnergyReference);
  j.sampler = settings_.sampler, j.g = {0, settings_.lo, settings_.hi}, j.seed = settings_.seed;
  for (int i = 0; i <= 8; ++i) j.omegas.push_back(0.25 * i);
  sweep_->start(std::move(j));
  return true;
}

// The metric against omega as the mini-sweep fills it in: energy distance
// (lower is better) with 95 % bootstrap intervals, the current omega marked.
void LiveApp::draw_sweep() {
  // Once the sweep has ended, its header goes to the panel's top, the chart and verdict below it in view (before
  // that the section is too short for the scroll to get there).
  if (reveal_sweep_ && !sweep_->running() && (!sweep_->rows().empty() || !sweep_->error().empty())) {
    ImGui::SetScrollHereY(0.0f);
    reveal_sweep_ = false;
  }
  if (!ImGui::CollapsingHeader("ω sweep", ImGuiTreeNodeFlags_DefaultOpen)) return;
  const bool can = is_2d_ && settings_.aux && reference_.defined();
  if (!can) {
    ImGui::TextDisabled("2D pairs with a built-in training set");
    return;
  }
  const bool running = sweep_->running();
  if (ImGui::Button(running ? "Cancel sweep" : "Run sweep")) {
    if (running) sweep_->cancel();
    else start_sweep();
  }
  ImGui::SameLine();
  const int64_t per_omega = SweepWorker::Job{}.n;
  ImGui::TextDisabled("ω 0..2, %lld points each", static_cast<long long>(per_omega));
  const std::vector<metrics::SweepRow> rows = sweep_->rows();
  if (rows.empty()) {
    if (!sweep_->error().empty()) ImGui::TextColored(ImVec4(0.75f, 0.1f, 0.1f, 1), "error: %s", sweep_->error().c_str());
    return;
  }
  // The gain over omega = 0 (energy(0) - energy(omega): higher is better) with
  // its paired 95 % bootstrap interval; omega = 0 sits on the zero line.
  auto gain = [](const metrics::SweepRow& r, int which) {
    if (r.omega == 0) return 0.0;
    return which < 0 ? r.gain_lo : which > 0 ? r.gain_hi : r.gain;
  };
  double lo = 0, hi = 0;
  for (const auto& r : rows)
    for (int k : {-1, 0, 1})
      if (std::isfinite(gain(r, k))) lo = std::min(lo, gain(r, k)), hi = std::max(hi, gain(r, k));
  if (!(hi > lo)) hi = lo + 1e-9;
  const double pad = 0.08 * (hi - lo);
  lo -= pad, hi += pad;
  const float w = ImGui::GetContentRegionAvail().x, h = 100;
  const ImVec2 p0 = ImGui::GetCursorScreenPos();
  ImGui::Dummy(ImVec2(w, h));
  ImDrawList* dl = ImGui::GetWindowDrawList();
  dl->AddRectFilled(p0, ImVec2(p0.x + w, p0.y + h), IM_COL32(255, 255, 255, 255));
  // The gain's scale in a left margin (its top, 0 and, when gains fall below 0, its bottom), ω under the plot at
  // 0, 0.5, ..., 2: no label sits inside the plot, where the ω cursor and the bars are.
  const std::string top = "+" + fmt("%.2g", hi), bottom = lo < -0.25 * (hi - lo) ? fmt("%.2g", lo) : "";
  const float text_h = ImGui::GetTextLineHeight();
  const float left = 8 + std::max({ImGui::CalcTextSize(top.c_str()).x, ImGui::CalcTextSize(bottom.c_str()).x,
                                   ImGui::CalcTextSize("ω").x});
  const float x0 = p0.x + left + 6, x1 = p0.x + w - 10, y0 = p0.y + 6, y1 = p0.y + h - text_h - 4;
  auto pt = [&](double om, double v) {
    return ImVec2(x0 + float(om / 2.0) * (x1 - x0), y1 - float((v - lo) / (hi - lo)) * (y1 - y0));
  };
  dl->AddLine(pt(0, 0), pt(2, 0), IM_COL32(150, 150, 150, 255));
  const float xw = pt(std::clamp(settings_.omega, 0.0, 2.0), lo).x;
  dl->AddLine(ImVec2(xw, y0), ImVec2(xw, y1), kCursorColour);
  const metrics::SweepRow* prev = nullptr;
  for (const auto& r : rows) {
    if (!std::isfinite(gain(r, 0))) continue;
    if (std::isfinite(gain(r, -1))) dl->AddLine(pt(r.omega, gain(r, -1)), pt(r.omega, gain(r, 1)), kSimsColour, 1.5f);
    if (prev) dl->AddLine(pt(prev->omega, gain(*prev, 0)), pt(r.omega, gain(r, 0)), kSimsColour, 1.f);
    if (r.omega == 0) dl->AddCircle(pt(r.omega, 0), 5, kBaseColour, 0, 2.f);
    dl->AddCircleFilled(pt(r.omega, gain(r, 0)), 3, kSimsColour);
    prev = &r;
  }
  const ImU32 ink = IM_COL32(60, 60, 60, 255);
  auto right_aligned = [&](float y, const std::string& t) {
    dl->AddText(ImVec2(x0 - 6 - ImGui::CalcTextSize(t.c_str()).x, y - text_h / 2), ink, t.c_str());
  };
  right_aligned(pt(0, hi).y + text_h / 2 - 2, top);
  // "0" centred on its line, where it keeps clear of the top label (its top at y0 - 2) and the bottom one (its
  // bottom at y1 + 2).
  const float zero_y = pt(0, 0).y;
  if (zero_y - text_h / 2 >= y0 - 2 + text_h && (bottom.empty() || zero_y + text_h / 2 <= y1 + 2 - text_h))
    right_aligned(zero_y, "0");
  if (!bottom.empty()) right_aligned(pt(0, lo).y - text_h / 2 + 2, bottom);
  for (int k = 0; k <= 4; ++k) {
    const std::string t = fmt("%g", 0.5 * k);
    dl->AddText(ImVec2(pt(0.5 * k, lo).x - ImGui::CalcTextSize(t.c_str()).x / 2, y1 + 2), ink, t.c_str());
  }
  dl->AddText(ImVec2(p0.x + 4, y1 + 2), ink, "ω");
  ImGui::PushStyleColor(ImGuiCol_Text, ImGui::GetStyleColorVec4(ImGuiCol_TextDisabled));
  ImGui::TextWrapped("gain in energy distance to held-out data over ω = 0 (ring), higher is better; bars: paired 95 %% "
                     "bootstrap interval (same noise); grey line: the ω set above");
  ImGui::PopStyleColor();
  if (sweep_->cancelled()) ImGui::TextDisabled("cancelled: the rows above are those finished");
  // Named as this sweep's: the tuned pair's note above was measured with more samples and can judge otherwise.
  const std::string v = metrics::omega_as_symbol(sweep_->verdict());
  if (!v.empty()) text_wrapped_words("This sweep (" + std::to_string(per_omega) + " points per ω): " + v);
}

void LiveApp::update_box() {
  const int k = step(), n = steps_shown();
  // Called every frame while the axes follow: the quantiles are recomputed
  // only when the points shown change (another result, step or x_t/D).
  const std::array<uint64_t, 3> key{uploaded_stamp_, static_cast<uint64_t>(k), denoised_ ? 1u : 0u};
  if (box_valid_ && key == box_key_) return;
  box_key_ = key;
  box_valid_ = true;
  std::vector<at::Tensor> sets;
  for (int p = 0; p < 2; ++p)
    if (const Trajectory* t = trajectory(p)) {
      if (denoised_ && k < n && k < static_cast<int>(t->denoised.size())) sets.push_back(t->denoised[k]);
      else sets.push_back(t->states[std::min<size_t>(k, t->states.size() - 1)]);
    }
  if (sets.empty() && reference_.defined()) sets.push_back(reference_);
  if (sets.empty()) return;
  const render::PlotRange r = render::robust_range(sets);
  box_ = {r.x0, r.x1, r.y0, r.y1};
}

std::string LiveApp::new_output_name(const std::string& ext) {
  char stamp[32] = "now";
  const std::time_t now = std::time(nullptr);
  if (const std::tm* tm = std::localtime(&now)) std::strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", tm);
  std::string name = std::string("sims-live-") + stamp + "." + ext;
  std::error_code ec;
  for (int i = 2; std::filesystem::exists(name, ec) && i < 1000; ++i)
    name = std::string("sims-live-") + stamp + "-" + std::to_string(i) + "." + ext;
  return name;
}

bool LiveApp::save_animation(const std::string& path, std::string* error) {
  const engine::LiveResult* r = shown();
  auto fail = [&](const std::string& why) {
    if (error) *error = why;
    return false;
  };
  if (!r || r->trajectory.states.empty()) return fail("nothing to animate yet");
  if (r->request.preview || r->refining) return fail("wait for the full-quality result, then save the animation");
  std::vector<render::AnimationRun> runs;
  if (r->base_x.defined() && !r->base_trajectory.states.empty())
    runs.push_back({panel_title(0), render::kBaseColour, &r->base_trajectory, r->base_x});
  runs.push_back({panel_title(1), r->request.aux ? render::kSimsColour : render::kBaseColour, &r->trajectory, r->x});
  const render::SamplingProvenance prov =
      render::SamplingProvenance::of(base_path_, r->request.aux ? aux_path_ : std::string(), r->request.guidance,
                                     r->request.sampler, static_cast<long long>(r->request.seed), r->x.size(0));
  try {
    const render::AnimationSpec spec = render::denoising_animation(runs, denoised_, prov, r->request.base->info().provenance);
    render::write_animation(path, render::render_animation(spec), std::min<double>(speed_, 25.0));
  } catch (const std::exception& e) {
    return fail(sims::error_words(e));
  }
  return true;
}

std::string LiveApp::panel_title(int panel) const {
  if (panel == 0) {
    const engine::LiveResult* r = shown();
    const double wc = r ? r->request.compare_omega : settings_.compare_omega;
    return wc == 0 ? "base alone (ω = 0)" : "ω = " + fmt("%.2f", wc) + " (same noise)";
  }
  if (!settings_.aux) return "base";
  const engine::LiveResult* r = shown();
  const double w = r ? r->request.guidance.omega : settings_.omega;
  return "SIMS, ω = " + fmt("%.2f", w);
}

void LiveApp::draw_panels() {
  const engine::LiveResult* r = shown();
  const ImVec2 avail = ImGui::GetContentRegionAvail();
  const float scrub_h = ImGui::GetFrameHeightWithSpacing() * 2 + 8;
  const bool two = r && r->base_x.defined();
  const int count = two ? 2 : 1;
  const float gap = ImGui::GetStyle().ItemSpacing.x;
  const float title_h = ImGui::GetTextLineHeightWithSpacing();
  ImVec2 size((avail.x - gap * (count - 1)) / count, avail.y - scrub_h - title_h);
  size.x = std::max(size.x, 50.f), size.y = std::max(size.y, 50.f);
  if (!r) {
    ImGui::Dummy(ImVec2(0, avail.y * 0.4f));
    ImGui::TextDisabled("%s", settings_.base ? "sampling…" : "choose a shipped pair or open files on the left");
    return;
  }
  if (is_2d_ && follow_) update_box();
  for (int p = two ? 0 : 1; p < 2; ++p) {
    ImGui::BeginGroup();
    const render::Rgb c = p == 1 && settings_.aux ? render::kSimsColour : render::kBaseColour;
    ImGui::TextColored(ImVec4(c.r / 255.f, c.g / 255.f, c.b / 255.f, 1), "%s",
                       panel_title(p).c_str());
    if (is_2d_) draw_points_panel(p, size);
    else draw_images_panel(p, size);
    ImGui::EndGroup();
    if (p == 0) ImGui::SameLine();
  }
  draw_scrubber();
}

void LiveApp::draw_points_panel(int panel, ImVec2 size) {
  const ImVec2 p0 = ImGui::GetCursorScreenPos();
  // Square data units: widen the box along the longer side of the panel.
  Box b = box_;
  const double cx = (b.x0 + b.x1) / 2, cy = (b.y0 + b.y1) / 2;
  double hx = (b.x1 - b.x0) / 2, hy = (b.y1 - b.y0) / 2;
  const double aspect = size.x / size.y;
  if (hx / hy < aspect) hx = hy * aspect;
  else hy = hx / aspect;
  b = {cx - hx, cx + hx, cy - hy, cy + hy};
  panel_box_ = b;
  PointsDraw d = view_;
  d.box = b;
  d.width = static_cast<int>(size.x);
  d.height = static_cast<int>(size.y);
  d.step = step();
  d.denoised = denoised_ && d.step < steps_shown();
  d.field = view_.field && panel == 1 && settings_.aux != nullptr;
  d.guided = panel == 1 && settings_.aux != nullptr;
  Texture t;
  if (renderer_) t = renderer_->points_panel(panel, d);
  // The FBO's rows go bottom-up: flip.
  ImGui::Image(t.id, size, ImVec2(0, 1), ImVec2(1, 0));
  const bool hovered = ImGui::IsItemHovered();
  ImGuiIO& io = ImGui::GetIO();
  auto data_of = [&](ImVec2 m) {
    return std::array<double, 2>{b.x0 + (m.x - p0.x) / size.x * (b.x1 - b.x0), b.y1 - (m.y - p0.y) / size.y * (b.y1 - b.y0)};
  };
  if (hovered && io.MouseWheel != 0) {
    const auto c = data_of(io.MousePos);
    const double f = std::pow(0.85, io.MouseWheel);
    box_ = {c[0] + (box_.x0 - c[0]) * f, c[0] + (box_.x1 - c[0]) * f, c[1] + (box_.y0 - c[1]) * f, c[1] + (box_.y1 - c[1]) * f};
    follow_ = false;
  }
  if (hovered && ImGui::IsMouseDragging(0, 2.f) && ImGui::IsMouseDown(0)) {
    const double dx = io.MouseDelta.x / size.x * (b.x1 - b.x0), dy = io.MouseDelta.y / size.y * (b.y1 - b.y0);
    box_ = {box_.x0 - dx, box_.x1 - dx, box_.y0 + dy, box_.y1 + dy};
    follow_ = false;
  }
  if (hovered && ImGui::IsMouseDoubleClicked(0)) follow_ = true, box_valid_ = false;
  // Axes: tick labels along the left and bottom edges.
  ImDrawList* dl = ImGui::GetWindowDrawList();
  const ImU32 ink = IM_COL32(70, 70, 70, 255);
  for (double v : render::nice_ticks(b.x0, b.x1, 6)) {
    const float x = p0.x + float((v - b.x0) / (b.x1 - b.x0)) * size.x;
    const std::string s = fmt("%g", v);
    dl->AddText(ImVec2(x + 2, p0.y + size.y - ImGui::GetTextLineHeight() - 1), ink, s.c_str());
  }
  for (double v : render::nice_ticks(b.y0, b.y1, 6)) {
    const float y = p0.y + float((b.y1 - v) / (b.y1 - b.y0)) * size.y;
    if (y > p0.y + size.y - 2 * ImGui::GetTextLineHeight()) continue;
    dl->AddText(ImVec2(p0.x + 3, y - ImGui::GetTextLineHeight() - 1), ink, fmt("%g", v).c_str());
  }
  std::string corner = follow_ ? "axes follow σ" : "zoomed · double-click: follow σ";
  if (hovered) {
    const auto c = data_of(io.MousePos);
    corner = "x " + fmt("%.3f", c[0]) + "  y " + fmt("%.3f", c[1]);
  }
  overlay_text(dl, ImVec2(p0.x + size.x - ImGui::CalcTextSize(corner.c_str()).x - 4, p0.y + 2), ink, corner);
  if (d.field && field_max_ > 0 && field_shown_ == field_stamp_) {
    // In the arrows' ink; two lines when one would run past the panel's left edge.
    const std::string what = "arrows: ω·(D_base − D_aux)/σ² at σ = " +
                             sigma_text(sigma_at(std::min(step(), steps_shown() - 1)));
    const std::string scale = "longest arrow (0.9 of a grid cell) = " + fmt("%.3g", field_max_);
    std::vector<std::string> lines{what + " · " + scale};
    if (ImGui::CalcTextSize(lines[0].c_str()).x > size.x - 8) lines = {what, scale};
    float y = p0.y + 2 + ImGui::GetTextLineHeight();
    for (const std::string& l : lines) {
      overlay_text(dl, ImVec2(p0.x + std::max(4.f, size.x - ImGui::CalcTextSize(l.c_str()).x - 4), y), ink, l);
      y += ImGui::GetTextLineHeight();
    }
  }
}

void LiveApp::draw_images_panel(int panel, ImVec2 size) {
  const engine::LiveResult* r = shown();
  const at::Tensor& x = panel == 0 ? r->base_x : r->x;
  if (!x.defined() || x.dim() != 4) return;
  const AtlasLayout a = atlas_layout(static_cast<int>(x.size(0)), static_cast<int>(x.size(2)), static_cast<int>(x.size(3)));
  const int k = step();
  Texture t;
  if (renderer_) t = renderer_->images_panel(panel, k, denoised_ && k < steps_shown());
  // The images in the grid that fills the panel best (fit_image_grid: whole-number zoom from 1x), each drawn from
  // its cell of the atlas on a white mount, centred: an integer zoom leaves a margin, shared out on both sides.
  const ImageGrid g = fit_image_grid(a.n, a.cell_w, a.cell_h, a.pad, size.x, size.y);
  const float zoom = g.zoom;
  const ImVec2 grid_size((g.cols * a.cell_w + a.pad) * zoom, (g.rows * a.cell_h + a.pad) * zoom);
  const ImVec2 p0 = ImGui::GetCursorScreenPos();
  const ImVec2 at(p0.x + std::max(0.f, std::floor((size.x - grid_size.x) / 2)), p0.y);
  ImGui::GetWindowDrawList()->AddRectFilled(at, ImVec2(at.x + grid_size.x, at.y + grid_size.y), IM_COL32(255, 255, 255, 255));
  for (int i = 0; i < a.n; ++i) {
    ImGui::SetCursorScreenPos(ImVec2(at.x + (a.pad + (i % g.cols) * a.cell_w) * zoom, at.y + (a.pad + (i / g.cols) * a.cell_h) * zoom));
    ImGui::Image(t.id, ImVec2((a.cell_w - a.pad) * zoom, (a.cell_h - a.pad) * zoom), a.uv0(i), a.uv1(i));
  }
  ImGui::SetCursorScreenPos(at);
  ImGui::PushID(panel);
  ImGui::InvisibleButton("##images", grid_size);
  ImGui::PopID();
  const bool clicked = ImGui::IsItemClicked(0);
  // The panel keeps its size (the step scrubber stays where it is in 2D).
  ImGui::SetCursorScreenPos(p0);
  ImGui::Dummy(size);
  if (clicked) {
    const ImVec2 m = ImGui::GetIO().MousePos;
    const int c = static_cast<int>((m.x - at.x) / zoom) / a.cell_w, rr = static_cast<int>((m.y - at.y) / zoom) / a.cell_h;
    const int i = rr * g.cols + c;
    if (c < g.cols && i < a.n) {
      enlarged_ = i;
      enlarged_panel_ = panel;
      ImGui::OpenPopup("enlarged");
    }
  }
  if (panel == 1 && enlarged_ >= a.n) enlarged_ = -1;  // a smaller result replaced the one clicked
  if (panel == 1 && enlarged_ >= 0 && ImGui::BeginPopup("enlarged")) {
    ImGui::Text("sample %d, left | right panel, step %d (click outside to close)", enlarged_, k);
    for (int p = 0; p < 2; ++p) {
      const at::Tensor& xp = p == 0 ? r->base_x : r->x;
      if (!xp.defined()) continue;
      Texture tp = renderer_ ? renderer_->images_panel(p, k, denoised_ && k < steps_shown()) : Texture{};
      const float side = 8.f * static_cast<float>(x.size(3));
      ImGui::Image(tp.id, ImVec2(side, side * x.size(2) / x.size(3)), a.uv0(enlarged_), a.uv1(enlarged_));
      if (p == 0) ImGui::SameLine();
    }
    ImGui::EndPopup();
  } else if (panel == 1) {
    enlarged_ = -1;
  }
}

void LiveApp::draw_scrubber() {
  const int n = steps_shown();
  if (n <= 0) return;
  const int k = step();
  if (ImGui::Button(playing_ ? "Pause" : "Play", ImVec2(60, 0))) toggle_play();
  ImGui::SameLine();
  int v = k;
  ImGui::SetNextItemWidth(std::max(120.f, ImGui::GetContentRegionAvail().x - 600));
  if (ImGui::SliderInt("##step", &v, 0, n, v >= n ? "final" : "step %d")) {
    playing_ = false;
    set_step(v);
  }
  ImGui::SameLine();
  ImGui::SetNextItemWidth(90);
  const float speeds[] = {2, 4, 8, 16, 32};
  int si = 2;
  for (int i = 0; i < 5; ++i)
    if (speeds[i] == speed_) si = i;
  if (ImGui::Combo("##speed", &si, "2 steps/s\0004 steps/s\0008 steps/s\00016 steps/s\00032 steps/s\0")) speed_ = speeds[si];
  ImGui::SameLine();
  ImGui::Checkbox("loop", &loop_);
  ImGui::SameLine();
  int what = denoised_ ? 1 : 0;
  ImGui::RadioButton("x_t", &what, 0);
  ImGui::SameLine();
  ImGui::RadioButton("D(x_t)", &what, 1);
  denoised_ = what == 1;
  ImGui::SameLine();
  if (ImGui::Button("Save PNG")) screenshot_wanted_ = true;
  ImGui::SameLine();
  if (ImGui::Button("Save GIF")) {
    const std::string name = new_output_name("gif");
    std::string err;
    std::error_code ec;
    if (save_animation(name, &err)) {
      const std::string where = std::filesystem::absolute(name, ec).string();
      set_info("saved the denoising to " + (where.empty() ? name : where));
    } else {
      set_error(err);
    }
  }
  if (ImGui::IsItemHovered())
    ImGui::SetTooltip("the denoising step by step, both panels, as an animated GIF in the working folder");
  const engine::LiveResult* r = shown();
  const engine::LiveResultLabels l = labels_of(*r);
  std::string where = k >= n ? "final samples (step " + std::to_string(n) + " of " + std::to_string(n) + ", σ = 0)"
                             : "step " + std::to_string(k) + " of " + std::to_string(n) + " · σ = " + sigma_text(sigma_at(k)) +
                                   (denoised_ ? " · D(x_t)" : " · x_t");
  ImGui::TextDisabled("%s   ·   %s", where.c_str(), l.footer.c_str());
}

}  // namespace sims::live
