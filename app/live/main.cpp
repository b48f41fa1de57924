// sims-live: the lean live explorer. One window (GLFW, OpenGL 3.3 core), Dear
// ImGui for the controls, the samples drawn by shaders (ui/live). The frame
// loop is single-threaded: poll events -> build the UI (LiveApp::frame, which
// takes the sampler's results and submits requests) -> draw -> swap. It
// sleeps in glfwWaitEvents while nothing moves; the sampler's worker wakes it
// with glfwPostEmptyEvent when a result is ready.
// For documentation and CI (listed, as the README uses it): --screenshot FILE saves
// the window once the first full result (and the guidance field, with
// --field) is drawn, then quits. Hidden, for benchmarks: --bench FILE times dragging and releasing
// omega and drawing 100,000 points, writes JSON, then quits.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#define GL_GLEXT_PROTOTYPES 1
#include <GL/gl.h>
#include <GLFW/glfw3.h>
#include <CLI/CLI.hpp>
#include <backends/imgui_impl_glfw.h>
#include <backends/imgui_impl_opengl3.h>
#include <imgui.h>
#include <nlohmann/json.hpp>
#include <stb_image_write.h>

#include "common/device.hpp"
#include "common/paths.hpp"
#include "engine/live_sampler.hpp"
#include "experiment/settings.hpp"
#include "sampling/schedule.hpp"
#include "io/atomic_file.hpp"
#include "live_app.hpp"
#include "live_gl.hpp"
#include "version.hpp"
#include "common/error_line.hpp"

using namespace sims;
using Clock = std::chrono::steady_clock;

namespace {


double ms_since(Clock::time_point t) { return std::chrono::duration<double, std::milli>(Clock::now() - t).count(); }

bool save_screenshot(GLFWwindow* win, const std::string& path) {
  int w = 0, h = 0;
  glfwGetFramebufferSize(win, &w, &h);
  std::vector<uint8_t> px(static_cast<size_t>(w) * h * 3), flipped(px.size());
  glPixelStorei(GL_PACK_ALIGNMENT, 1);
  glReadBuffer(GL_BACK);
  glReadPixels(0, 0, w, h, GL_RGB, GL_UNSIGNED_BYTE, px.data());
  for (int y = 0; y < h; ++y)
    std::copy_n(&px[static_cast<size_t>(h - 1 - y) * w * 3], static_cast<size_t>(w) * 3, &flipped[static_cast<size_t>(y) * w * 3]);
  const std::string tmp = path + ".tmp";
  std::error_code ec;
  if (!stbi_write_png(tmp.c_str(), w, h, 3, flipped.data(), w * 3)) {
    std::filesystem::remove(tmp, ec);
    return false;
  }
  std::filesystem::rename(tmp, path, ec);
  if (ec) std::filesystem::remove(tmp, ec);
  return !ec;
}

double percentile(std::vector<double> v, double q) {
  if (v.empty()) return NAN;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(q * (v.size() - 1) + 0.5))];
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App cli{"sims-live: explore self-improving diffusion models (SIMS) live: omega and the guidance interval, "
               "base | SIMS side by side, the denoising steps, the density of the samples and the guidance field."};
  std::string base, aux, pair = "gaussian", session, screenshot, bench, size = "1600x1000";
  // Numbers are read as text and checked here (CLI11 said "Could not convert", and took --omega nan or
  // --points -1 without a word).
  std::string omega_text, points_text, step_text;
  double omega = NAN;
  bool field = false, trails = false, denoised = false;
  int step = -1;
  int64_t points = 0;
  cli.add_option("-b,--base", base, "Base model file (checkpoint, TorchScript or analytic .json)");
  cli.add_option("-a,--aux", aux, "Auxiliary model file");
  cli.add_option("--pair", pair, "Start on this shipped pair: gaussian, grid25 or faces (without --base)")
      ->check(CLI::IsMember({"gaussian", "grid25", "faces"}));
  cli.add_option("--session", session, "Open a session file of the studio (*.simsession)");
  cli.add_option("--omega", omega_text, "Start with this omega (default: the pair's tuned omega)");
  std::string device = "cpu";
  cli.add_option("--device", device, "Load the models and sample on DEVICE: cpu or cuda[:i] (default cpu)");
  CLI::Option* size_opt = cli.add_option("--size", size, "Window size WxH (default 1600x1000, or the screen's work area where smaller)");
  cli.add_option("--points", points_text, "2D points per result (16 to 200000)");
  cli.add_flag("--field", field, "Show the guidance field");
  cli.add_flag("--trails", trails, "Show trails");
  bool no_density = false, no_data = false;
  cli.add_flag("--no-density", no_density, "Hide the density map");
  cli.add_flag("--no-data", no_data, "Hide the training data");
  cli.add_flag("--denoised", denoised, "Show D(x_t) instead of x_t");
  cli.add_option("--step", step_text, "Show step K of the denoising (0: the first)");
  bool sweep = false;
  cli.add_flag("--sweep", sweep, "Start the omega mini-sweep (2D pairs)");
  cli.add_option("--screenshot", screenshot, "Save the window to FILE after the first full result, then quit");
  cli.add_option("--bench", bench, "Benchmark; write JSON to FILE, then quit")->group("");
  double idle_check = 0;
  cli.add_option("--idle-check", idle_check,
                 "Run S seconds, then fail if frames were drawn while nothing moved (more than 2 per second)")->group("");
  cli.set_version_flag("-v,--version", sims_version_text());
  try {
    cli.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return cli.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return cli.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return cli.exit(e);
  } catch (const CLI::ParseError& e) {  // one error line (CLI11's exit() printed two and returned its own codes)
    sims::print_error_line(std::string(e.what()) + " (see 'sims-live --help')");
    return 2;
  }
  try {
    sims::set_face_device(sims::parse_device(device));
    if (!omega_text.empty()) {
      omega = sims::experiment::parse_real(omega_text, "--omega");
      sims::Guidance g;
      g.omega = omega;
      g.validate();
    }
    if (!points_text.empty()) {
      points = sims::experiment::parse_integer(points_text, "--points");
      if (points < 16 || points > 200000)
        throw sims::InputError("--points must be from 16 to 200000 (got " + points_text + ")");
    }
    if (!step_text.empty()) {
      const int64_t k = sims::experiment::parse_integer(step_text, "--step");
      if (k < 0 || k > 10000) throw sims::InputError("--step must be from 0 to 10000 (got " + step_text + ")");
      step = static_cast<int>(k);
    }
  } catch (const std::exception& e) {
    sims::print_error_line(sims::error_words(e));
    return 2;
  }
  int win_w = 1600, win_h = 1000;
  if (std::sscanf(size.c_str(), "%dx%d", &win_w, &win_h) != 2 || win_w < 640 || win_h < 400 || win_w > 8192 || win_h > 8192) {
    sims::print_error_line("--size must be WxH with W >= 640 and H >= 400 (got '" + size + "')");
    return 2;
  }
  if (base.empty() && !aux.empty()) {
    std::fprintf(stderr, "error: --aux needs --base\n");
    return 2;
  }

  glfwSetErrorCallback([](int code, const char* what) { std::fprintf(stderr, "glfw error %d: %s\n", code, what); });
  if (!glfwInit()) {
    std::fprintf(stderr, "error: no display (GLFW cannot start: is DISPLAY set? `sims demo` runs without one)\n");
    return 1;
  }
  // The default size shrinks to the screen's work area (a 1280x720 screen got a 1600x1000 window, its controls and
  // status line off the screen); a --size given is taken as given.
  if (size_opt->count() == 0) {
    int x = 0, y = 0, w = 0, h = 0;
    if (GLFWmonitor* m = glfwGetPrimaryMonitor()) glfwGetMonitorWorkarea(m, &x, &y, &w, &h);
    const int title_bar = 40;  // the window manager's frame, not part of the work area the window's content gets
    if (w >= 640 && h >= 400 + title_bar) win_w = std::min(win_w, w), win_h = std::min(win_h, h - title_bar);
  }
  glfwWindowHint(GLFW_CONTEXT_VERSION_MAJOR, 3);
  glfwWindowHint(GLFW_CONTEXT_VERSION_MINOR, 3);
  glfwWindowHint(GLFW_OPENGL_PROFILE, GLFW_OPENGL_CORE_PROFILE);
  glfwWindowHint(GLFW_OPENGL_FORWARD_COMPAT, GLFW_TRUE);
  GLFWwindow* win = glfwCreateWindow(win_w, win_h, "SIMS live", nullptr, nullptr);
  if (!win) {
    std::fprintf(stderr, "error: cannot open an OpenGL 3.3 window\n");
    glfwTerminate();
    return 1;
  }
  glfwMakeContextCurrent(win);
  glfwSwapInterval(1);  // vsync

  IMGUI_CHECKVERSION();
  ImGui::CreateContext();
  ImGuiIO& io = ImGui::GetIO();
  io.IniFilename = nullptr;
  ImGui::StyleColorsLight();
  ImGui::GetStyle().FrameRounding = 3;
  // Disabled buttons (Stop while nothing runs) clearly fainter than live ones: the default 0.6 reads as active.
  ImGui::GetStyle().DisabledAlpha = 0.35f;
  // Hints, captions and the status line are drawn as "disabled" text: ImGui's light grey (#999 on #f0f0f0, 2.5:1) is
  // too faint to read; #666 gives about 5:1.
  ImGui::GetStyle().Colors[ImGuiCol_TextDisabled] = ImVec4(0.40f, 0.40f, 0.40f, 1.0f);
  // DejaVu Sans (fonts-dejavu-core) with Greek and the math signs the labels use; ImGui's own font otherwise.
  float xs = 1, ys = 1;
  glfwGetWindowContentScale(win, &xs, &ys);
  static const ImWchar ranges[] = {0x0020, 0x00FF, 0x0370, 0x03FF, 0x2010, 0x206F, 0x2190, 0x21FF, 0x2200, 0x22FF, 0};
  const char* font = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf";
  if (std::filesystem::exists(font)) io.Fonts->AddFontFromFileTTF(font, std::round(15.f * xs), nullptr, ranges);
  ImGui::GetStyle().ScaleAllSizes(xs);
  ImGui_ImplGlfw_InitForOpenGL(win, true);
  ImGui_ImplOpenGL3_Init("#version 330 core");

  int rc = 0;
  {
    live::Mailbox mailbox;
    mailbox.set_wake([] { glfwPostEmptyEvent(); });
    engine::LiveSampler sampler([&](engine::LiveResultPtr r) { mailbox.post_result(std::move(r)); },
                                [&](uint64_t s, const std::string& m) { mailbox.post_error(s, m); });
    std::unique_ptr<live::GlRenderer> renderer;
    try {
      renderer = std::make_unique<live::GlRenderer>();
    } catch (const std::exception& e) {
      sims::print_error_line(sims::error_words(e));
      return 1;
    }
    live::LiveApp app(sampler, renderer.get(), mailbox);
    app.show_field() = field;
    app.show_trails() = trails;
    app.show_density() = !no_density;
    app.show_data() = !no_data;
    app.show_denoised() = denoised;
    if (points > 0) app.settings().points = points;
    std::string err;
    bool ok = true;
    if (!session.empty()) ok = app.open_session(session, &err);
    else if (!base.empty()) ok = app.open_pair(base, aux, &err);
    else {
      try {
        ok = app.open_pair(asset_path("models/" + pair + "-base.ckpt"), asset_path("models/" + pair + "-aux.ckpt"), &err);
      } catch (const std::exception& e) {
        ok = false, err = sims::error_words(e);
      }
    }
    if (!ok) {
      sims::print_error_line(err);
      if (!screenshot.empty() || !bench.empty()) return 1;
    }
    if (std::isfinite(omega)) app.set_omega(omega, false);
    if (sweep && !app.start_sweep(true)) std::fprintf(stderr, "note: --sweep needs a 2D pair with a built-in training set\n");

    auto draw = [&] {
      ImGui_ImplOpenGL3_NewFrame();
      ImGui_ImplGlfw_NewFrame();
      ImGui::NewFrame();
      app.frame();
      ImGui::Render();
      int fw = 0, fh = 0;
      glfwGetFramebufferSize(win, &fw, &fh);
      glViewport(0, 0, fw, fh);
      glClearColor(0.94f, 0.94f, 0.94f, 1);
      glClear(GL_COLOR_BUFFER_BIT);
      ImGui_ImplOpenGL3_RenderDrawData(ImGui::GetDrawData());
    };

    if (!bench.empty()) {
      // [SECTION] Benchmark ------------------------------------------------------------------
      glfwSwapInterval(0);  // time the work, not the display's refresh
      nlohmann::json out;
      out["cpu_cores"] = std::thread::hardware_concurrency();
      out["gl_renderer"] = reinterpret_cast<const char*>(glGetString(GL_RENDERER));
      auto frame = [&] {
        glfwPollEvents();
        draw();
        glfwSwapBuffers(win);
      };
      // As the frame loop waits: a worker's result wakes it (the status refreshes at 4 Hz meanwhile).
      auto wait_final = [&](double omega_want, double limit_ms) {
        const auto t0 = Clock::now();
        while (ms_since(t0) < limit_ms) {
          if (app.working()) glfwWaitEventsTimeout(0.25);
          frame();
          if (app.shown_final() && app.shown_stamp() == sampler.latest_stamp() && sampler.idle() &&
              std::abs(app.settings().omega - omega_want) < 1e-9)
            return true;
        }
        return false;
      };
      app.settings().points = 2000;
      app.settings().sampler.steps = 32;
      app.settings().compare = true;
      app.set_omega(1.0, false);
      if (!wait_final(1.0, 120000)) {
        std::fprintf(stderr, "error: no first result\n");
        return 1;
      }
      // Dragging omega: one move per frame, as fast as frames go, for 3 s.
      std::vector<double> frame_ms;
      uint64_t sets = 0, last = app.shown_stamp();
      const auto t0 = Clock::now();
      // A mouse moves the slider at most 60 times a second: frames are paced to 60 Hz.
      for (int i = 0; ms_since(t0) < 3000; ++i) {
        const auto f0 = Clock::now();
        app.set_omega(1.0 + 0.8 * std::sin(i * 0.05), true);
        frame();
        glFinish();
        frame_ms.push_back(ms_since(f0));
        if (app.shown_stamp() != last) ++sets, last = app.shown_stamp();
        const double left = 1000.0 / 60 - ms_since(f0);
        if (left > 0) std::this_thread::sleep_for(std::chrono::duration<double, std::milli>(left));
      }
      const double drag_s = ms_since(t0) / 1000;
      out["drag"] = {{"points", 2000},
                     {"steps", 32},
                     {"frames_per_second", frame_ms.size() / drag_s},
                     {"frame_ms_median", percentile(frame_ms, 0.5)},
                     {"frame_ms_p95", percentile(frame_ms, 0.95)},
                     {"new_sample_sets_per_second", sets / drag_s}};
      // With the worker idle: frames that redraw nothing (the panels' textures
      // reused) and frames that redraw both panels (scrubbing between two steps).
      auto timed_frames = [&](bool scrub) {
        std::vector<double> ms;
        const int n = app.steps_shown();
        const auto s0 = Clock::now();
        for (int i = 0; ms_since(s0) < 2000; ++i) {
          const auto f0 = Clock::now();
          if (scrub) app.set_step(i % 2 ? n - 1 : n - 2);
          frame();
          glFinish();
          ms.push_back(ms_since(f0));
        }
        return nlohmann::json{{"frames_per_second", ms.size() / (ms_since(s0) / 1000)}, {"frame_ms_median", percentile(ms, 0.5)}};
      };
      wait_final(app.settings().omega, 60000);
      out["idle_frames_2000"] = {{"static", timed_frames(false)}, {"both_panels_redrawn", timed_frames(true)}};
      app.set_step(-1);
      // Release -> the full result on screen (drawn and swapped).
      std::vector<double> release_ms;
      for (int r = 0; r < 8; ++r) {
        const double w = 0.2 + 0.2 * r;
        app.set_omega(w, true);
        frame();
        const auto r0 = Clock::now();
        app.set_omega(w, false);
        if (!wait_final(w, 60000)) break;
        glFinish();
        release_ms.push_back(ms_since(r0));
      }
      out["release_to_screen_ms"] = {{"median", percentile(release_ms, 0.5)},
                                     {"min", percentile(release_ms, 0)},
                                     {"max", percentile(release_ms, 1)},
                                     {"releases", release_ms.size()}};
      // 100,000 points: scrubbing between two steps redraws both panels every frame.
      app.settings().points = 100000;
      app.commit();
      if (wait_final(app.settings().omega, 300000)) {
        const int n = app.steps_shown();
        std::vector<double> ms;
        const uint64_t redraws0 = renderer->redraws();
        const auto s0 = Clock::now();
        for (int i = 0; ms_since(s0) < 3000; ++i) {
          const auto f0 = Clock::now();
          app.set_step(i % 2 ? n - 1 : n - 2);
          frame();
          glFinish();
          ms.push_back(ms_since(f0));
        }
        out["points_100k"] = {{"frames_per_second", ms.size() / (ms_since(s0) / 1000)},
                              {"frame_ms_median", percentile(ms, 0.5)},
                              {"panel_redraws", renderer->redraws() - redraws0},
                              {"frames", ms.size()}};
      }
      const std::string text = out.dump(2) + "\n";
      io::write_file_atomically(bench, text.data(), text.size());
      std::printf("%s", text.c_str());
    } else {
      // [SECTION] The frame loop -------------------------------------------------------------
      if (step >= 0) app.set_step(step);
      int extra = 3;  // frames after an event: ImGui settles hover and focus
      int shown_frames = 0;
      const auto start = Clock::now();
      // --idle-check: frames drawn once the first full result is on screen and nothing moves.
      uint64_t idle_frames = 0;
      double idle_since_ms = -1;
      while (!glfwWindowShouldClose(win)) {
        // Playback and the frames after an event: 60 Hz. A worker busy: its
        // result wakes the loop; until then the status refreshes 4 times a
        // second (frames at 60 Hz would take the cores the worker needs).
        // Nothing at all: sleep until an event.
        if (app.animating() || extra > 0) glfwWaitEventsTimeout(1.0 / 60);
        else if (app.working()) glfwWaitEventsTimeout(0.25), extra = 1;
        else if (idle_check > 0) glfwWaitEventsTimeout(std::max(0.01, idle_check - ms_since(start) / 1000)), extra = 3;
        else glfwWaitEvents(), extra = 3;
        extra = std::max(extra - 1, 0);
        if (idle_check > 0) {
          if (ms_since(start) / 1000 >= idle_check) {
            const double idle_s = idle_since_ms < 0 ? 0 : (ms_since(start) - idle_since_ms) / 1000;
            std::fprintf(stderr, "sims-live: %llu frames drawn in %.1f s after the first full result (%llu frames in all)\n",
                         static_cast<unsigned long long>(idle_frames), idle_s, static_cast<unsigned long long>(app.frames()));
            if (idle_s < 1 || idle_frames > 2 * idle_s + 8) {
              std::fprintf(stderr, "error: %s\n", idle_s < 1 ? "no full result in time" : "the loop redraws while nothing moves");
              rc = 1;
            }
            break;
          }
          if (idle_since_ms >= 0) ++idle_frames;
        }
        draw();
        if (idle_check > 0 && idle_since_ms < 0 && app.shown_final() && !app.animating() && !app.working())
          idle_since_ms = ms_since(start);
        if (app.take_screenshot_request()) {
          // Save PNG: a new file in the working folder, never over an existing one.
          const std::string name = sims::live::LiveApp::new_output_name("png");
          std::error_code ec;
          const std::string where = std::filesystem::absolute(name, ec).string();
          if (save_screenshot(win, name)) app.set_info("saved " + (where.empty() ? name : where));
          else app.set_error("cannot write " + name + " in the working folder");
          extra = 2;
        }
        if (!screenshot.empty()) {
          if (app.shown_final() && !app.working()) {  // the field and the sweep done too
            if (step >= 0) app.set_step(step);
            if (++shown_frames >= 4) {
              if (!save_screenshot(win, screenshot)) {
                sims::print_error_line("cannot write '" + screenshot + "'");
                rc = 1;
              }
              break;
            }
          }
          if (ms_since(start) > 300000) {
            std::fprintf(stderr, "error: no result to screenshot within 300 s\n");
            rc = 1;
            break;
          }
          extra = 2;
        }
        glfwSwapBuffers(win);
      }
    }
  }
  ImGui_ImplOpenGL3_Shutdown();
  ImGui_ImplGlfw_Shutdown();
  ImGui::DestroyContext();
  glfwDestroyWindow(win);
  glfwTerminate();
  return rc;
}
