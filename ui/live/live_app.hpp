// sims-live: the lean live explorer (Dear ImGui). This is its UI logic, with
// no window system and no GL: one frame() call builds the ImGui widgets for a
// frame from the state, forwards control changes to the engine's LivePolicy
// (the same request/refine rules as the Qt studio), and draws the panels
// through a Renderer (GL in the app, a recorder in the tests). The frame loop
// (app/live/main.cpp) is single-threaded: poll -> frame() -> render -> swap.
// The sampler's worker never touches the UI or GL: it posts results to a
// Mailbox, and frame() takes them on the UI thread; each new result is
// uploaded to the renderer once. The guidance field is computed on a worker
// of its own (FieldWorker), never on the UI thread.
#pragma once
#include <array>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <ATen/Tensor.h>
#include <imgui.h>

#include "engine/live_policy.hpp"
#include "metrics/sweep.hpp"
#include "engine/live_sampler.hpp"

namespace sims::live {

// Thread-safe hand-over from the sampler's worker to the frame loop; `wake`
// (e.g. glfwPostEmptyEvent) makes an idle loop take the item at once.
class Mailbox {
 public:
  struct Item {
    engine::LiveResultPtr result;  // null for an error
    uint64_t stamp = 0;
    std::string error;
  };
  void set_wake(std::function<void()> wake);
  void post_result(engine::LiveResultPtr r);
  void post_error(uint64_t stamp, std::string message);
  std::vector<Item> take();
  // Only wakes the loop (another worker has something for it).
  void wake();

 private:
  std::mutex mu_;
  std::vector<Item> items_;
  std::function<void()> wake_;
};

// A 2D view box in data coordinates.
struct Box {
  double x0 = -1, x1 = 1, y0 = -1, y1 = 1;
  bool operator==(const Box& o) const { return x0 == o.x0 && x1 == o.x1 && y0 == o.y0 && y1 == o.y1; }
};

// What a points panel shows this frame.
struct PointsDraw {
  Box box;
  int width = 0, height = 0;  // pixels
  int step = 0;               // 0..steps (steps: the final samples)
  bool denoised = false;      // D(x_t) instead of x_t (steps < N)
  bool data = true, density = true, points = true, trails = false, field = false;
  bool guided = false;         // the panel shows guided samples (SIMS): drawn in SIMS's colour, else the base's
  float point_size = 3.f;
  bool operator==(const PointsDraw& o) const;
};

struct Texture {
  ImTextureID id = nullptr;
  int width = 0, height = 0;
};

// Images of a panel laid out in an atlas: cols x rows cells of (side + pad) pixels.
struct AtlasLayout {
  int n = 0, cols = 0, rows = 0, cell_w = 0, cell_h = 0, pad = 2, width = 0, height = 0;
  // Texture coordinates of image i.
  ImVec2 uv0(int i) const;
  ImVec2 uv1(int i) const;
};
AtlasLayout atlas_layout(int n, int img_h, int img_w);

// How a panel shows the atlas's images: `cols` per row (rows as many as n needs), each atlas cell `zoom` times its
// size. The columns are the ones that give the largest zoom in a width x height panel (whole numbers from 1x up,
// so that every pixel stays square; below 1x scaled down), on a tie the fewest empty cells: 36 faces fill a tall
// panel 5 wide at 3x rather than 6 wide at 2x with half the panel empty.
struct ImageGrid {
  int cols = 1, rows = 1;
  float zoom = 1;
};
ImageGrid fit_image_grid(int n, int cell_w, int cell_h, int pad, float width, float height);

// The GPU side: GL in the app, a recorder in the tests. Panel 0 is the base
// model alone (omega = 0), panel 1 the SIMS-guided samples, on the same noise.
class Renderer {
 public:
  virtual ~Renderer() = default;
  // Real data drawn under the samples ([n, 2], or undefined for none).
  virtual void set_reference(const at::Tensor& points) = 0;
  // A newly shown result, copied once to GPU buffers.
  virtual void upload(const engine::LiveResult& r) = 0;
  // The guidance field rows (x, y, fx, fy) [k, 4] (undefined: none) drawn as
  // arrows; `length` scales a field vector to data units.
  virtual void set_field(const at::Tensor& field, double length) = 0;
  virtual Texture points_panel(int panel, const PointsDraw& d) = 0;
  // Image models: the atlas of the panel's images at `step` (x_t, or D(x_t) when denoised).
  virtual Texture images_panel(int panel, int step, bool denoised) = 0;
};

// The guidance field on a worker of its own, latest request wins.
class FieldWorker {
 public:
  struct Request {
    DenoiserPtr base, aux;
    Guidance g;
    double sigma = 1;
    Box box;
    int nx = 24, ny = 24;
    uint64_t stamp = 0;
  };
  struct Result {
    at::Tensor field;  // [nx*ny, 4]
    uint64_t stamp = 0;
    std::string error;
  };
  explicit FieldWorker(std::function<void()> wake = {});
  ~FieldWorker();
  void submit(Request r);
  std::optional<Result> take();  // the newest finished result, once

 private:
  void loop();
  std::function<void()> wake_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::optional<Request> pending_;
  std::optional<Result> done_;
  bool stop_ = false;
  std::thread thread_;
};

// The mini-sweep: the metric against omega, one omega at a time on a worker
// of its own (metrics::run_sweep: energy distance to held-out points of the
// training distribution, 95 % bootstrap interval), so the plot fills in as
// the rows arrive. 2D models with a built-in training set only.
class SweepWorker {
 public:
  struct Job {
    DenoiserPtr base, aux;
    at::Tensor real;  // [M, 2] held-out real points
    SamplerConfig sampler;
    Guidance g;  // its interval; omega is the row's
    uint64_t seed = 0;
    int64_t n = 1000;
    std::vector<double> omegas;
  };
  explicit SweepWorker(std::function<void()> wake = {});
  ~SweepWorker();
  void start(Job job);  // cancels a sweep in flight
  // Stops the sweep in flight (waits for the row being scored) and, with
  // clear, forgets its rows (other models were loaded).
  void cancel(bool clear = false);
  bool running() const;
  // Rows finished so far (ω order of the job) and the verdict once all are done.
  std::vector<metrics::SweepRow> rows() const;
  std::string verdict() const;
  std::string error() const;
  bool cancelled() const;

 private:
  void run(Job job);
  std::function<void()> wake_;
  mutable std::mutex mu_;
  std::vector<metrics::SweepRow> rows_;
  std::string verdict_, error_;
  std::atomic<bool> cancel_{false};
  std::atomic<bool> running_{false};
  bool cancelled_ = false;  // the rows shown are a cancelled sweep's
  std::thread thread_;
};

// A shipped pair or two files.
struct PairChoice {
  std::string label, base, aux;
};

struct LiveAppOptions {
  engine::LivePolicyOptions policy;
  bool side_panel_only = false;  // tests: no panels
};

class LiveApp {
 public:
  // target: the LiveSampler (or a recorder in tests); renderer may be null
  // (tests of the controls); mailbox: where the sampler's worker posts.
  LiveApp(engine::LiveTarget& target, Renderer* renderer, Mailbox& mailbox, LiveAppOptions opts = {});
  ~LiveApp();

  // Loads a pair (aux may be empty); on failure nothing changes and the
  // error is shown (and returned).
  bool open_pair(const std::string& base, const std::string& aux, std::string* error = nullptr);
  // What the models panel says about the pair under its names: a warning when the auxiliary is not the base's
  // fine-tune (pairing.hpp), and the tuned ω of its tune file.
  const std::string& pair_warning() const { return pair_warning_; }
  const std::string& pair_note() const { return pair_note_; }
  // Models already loaded (tests).
  void set_models(DenoiserPtr base, DenoiserPtr aux);
  // A session file of the studio (*.simsession): models and settings.
  bool open_session(const std::string& path, std::string* error = nullptr);
  bool save_session(const std::string& path, std::string* error = nullptr);
  // The file the session box names: the last session opened or saved (Save refuses an existing file).
  std::string session_path() const { return session_path_; }
  // The denoising of the full result shown, one frame per step, both panels side by side (the core's
  // renderer, as `sims sample --animation`), as .gif or animated .png at the playback speed.
  bool save_animation(const std::string& path, std::string* error = nullptr);
  // A new file name in the working folder that does not exist yet: sims-live-<date>-<time>[-k].<ext>.
  static std::string new_output_name(const std::string& ext);

  // Builds the UI of one frame (between ImGui::NewFrame and ImGui::Render):
  // takes posted results first, then the widgets.
  void frame();
  // Playback: draw every frame.
  bool animating() const;
  // A worker has something coming (a sample set, the field, sweep rows): it
  // wakes the loop when it arrives; frames meanwhile only refresh the status.
  bool working() const;

  // The settings the controls hold.
  engine::LiveSettings& settings() { return settings_; }
  const engine::LivePolicy& policy() const { return *policy_; }
  void commit();                    // submit the full request for the current settings
  // The mini-sweep of the metric against omega (2D pairs with a training set); `reveal`: the side panel scrolls
  // to it once it has ended (sims-live --sweep, where it would end below the fold of a 720-line screen).
  bool start_sweep(bool reveal = false);
  void set_omega(double w, bool drag);
  int step() const;                 // 0..steps
  void set_step(int k);             // -1: follow the final samples
  int steps_shown() const;          // steps of the shown result (0: none)
  bool playing() const { return playing_; }
  uint64_t uploads() const { return uploads_; }   // results uploaded to the renderer
  uint64_t uploaded_stamp() const { return uploaded_stamp_; }
  const std::string& last_error() const { return last_error_; }
  // Where the omega slider was drawn in the last frame (tests drive the mouse there).
  ImVec2 omega_slider_min() const { return omega_min_; }
  ImVec2 omega_slider_max() const { return omega_max_; }
  // View options.
  bool& show_field() { return view_.field; }
  bool& show_trails() { return view_.trails; }
  bool& show_density() { return view_.density; }
  bool& show_data() { return view_.data; }
  bool& show_denoised() { return denoised_; }
  Box view_box() const { return box_; }
  // A new frame's worth of results has been drawn for the newest request
  // (benchmarks): stamp of the result shown and whether it is final.
  uint64_t shown_stamp() const;
  bool shown_final() const;
  // The user asked for a screenshot of the window (the frame loop saves it:
  // it owns the framebuffer); true once per request.
  bool take_screenshot_request() { return std::exchange(screenshot_wanted_, false); }
  // Say where it went (or why not) in the side panel.
  void set_info(std::string text) { info_ = std::move(text); }
  void set_error(std::string text) { last_error_ = std::move(text); }
  // Stats for the benchmark: frames built.
  uint64_t frames() const { return frames_; }

 private:
  void take_posted();
  void apply(const engine::LiveReaction& r);
  void on_models_changed();
  void draw_side_panel(float width);
  void draw_models();
  void draw_guidance();
  void draw_interval();
  void draw_view_options();
  void draw_stats();
  void draw_sweep();
  void draw_file_list();
  void draw_panels();
  void draw_points_panel(int panel, ImVec2 size);
  void draw_images_panel(int panel, ImVec2 size);
  void draw_scrubber();
  void handle_keys();
  void toggle_play();
  engine::LiveSession session() const;  // the current models and settings
  void apply_session(const engine::LiveSession& s);
  void update_box();
  void request_field();
  const engine::LiveResult* shown() const;
  const Trajectory* trajectory(int panel) const;
  double sigma_at(int k) const;
  std::string panel_title(int panel) const;

  engine::LiveTarget& target_;
  Renderer* renderer_;
  Mailbox& mailbox_;
  LiveAppOptions opts_;
  std::unique_ptr<engine::LivePolicy> policy_;
  std::unique_ptr<FieldWorker> field_;
  std::unique_ptr<SweepWorker> sweep_;
  engine::LiveSettings settings_;
  std::string base_path_, aux_path_, pair_note_, pair_warning_;
  bool is_2d_ = true;
  at::Tensor reference_;
  std::string reference_name_;
  std::vector<PairChoice> shipped_;
  int shipped_index_ = -1;

  // View.
  PointsDraw view_;
  bool denoised_ = false;
  bool reveal_sweep_ = false;  // scroll the side panel to the sweep at its next frame
  int step_ = -1;  // -1: the final samples
  bool playing_ = false, loop_ = true;
  float speed_ = 8.f;  // steps per second
  double play_clock_ = 0;
  bool follow_ = true;  // axes follow the samples at each step
  Box box_;
  std::array<uint64_t, 3> box_key_{};  // what box_ was fitted to (result stamp, step, D(x_t)); box_valid_ false: refit
  bool box_valid_ = false;
  Box panel_box_, field_box_;  // the box drawn (widened to the panel's shape); the field's
  int field_nx_ = 24;
  int enlarged_ = -1, enlarged_panel_ = 1;

  // Results.
  uint64_t uploads_ = 0, uploaded_stamp_ = 0;
  const engine::LiveResult* uploaded_ = nullptr;
  bool uploaded_preview_ = false;
  uint64_t field_stamp_ = 0, field_shown_ = 0;
  std::string field_key_;
  double field_max_ = 0;
  std::string last_error_, info_;
  std::vector<std::array<double, 2>> spread_base_, spread_sims_;  // per step: RMS distance of x_t from its mean

  // File list.
  bool files_open_ = false;
  std::string dir_;
  int pick_base_ = -1, pick_aux_ = -1;
  std::vector<std::string> dir_files_;
  bool dir_scanned_ = false;
  void show_session_path(const std::string& path);
  char session_path_[512] = "session.simsession";

  ImVec2 omega_min_{}, omega_max_{};
  bool screenshot_wanted_ = false;
  uint64_t frames_ = 0;
};

}  // namespace sims::live
