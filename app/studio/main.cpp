// sims-studio: the Qt 6 desktop face of SIMS Studio. Everything heavy runs in
// the engine's workers (core/engine); this file only parses the command line.
// For documentation and CI (listed, as the README uses it): --screenshot FILE saves the window
// once the first full-quality result is shown (with --tab sweep|loops
// --run-demo: once that tab's sweep, loop or atlas has finished; with --tab shift:
// once the tab shows its results, the committed example unless --shift-results
// names a run folder), then quits.
#include <cmath>
#include <optional>
#include <tuple>
#include <utility>
#include <cstdio>
#include <memory>
#include <vector>

#include <QApplication>
#include <QCheckBox>
#include <QCommandLineParser>
#include <QComboBox>
#include <QFile>
#include <QFileInfo>
#include <QJsonDocument>
#include <QJsonObject>
#include <QPushButton>
#include <QSlider>
#include <QTabWidget>
#include <QTimer>

#include "atlas_view.hpp"
#include "common/device.hpp"
#include "experiment/settings.hpp"
#include "guidance_panel.hpp"
#include "interval_bar.hpp"
#include "loop_view.hpp"
#include "main_window.hpp"
#include "message_area.hpp"
#include "shift_view.hpp"
#include "step_viewer.hpp"
#include "studio_bench.hpp"
#include "sweep_view.hpp"
#include "theme.hpp"
#include "train_panel.hpp"
#include "version.hpp"
#include "common/error_line.hpp"

using namespace sims::ui;

namespace {
void print_error(const QString& msg) { sims::print_error_line(msg.toStdString()); }

// Saves a screenshot and quits: exit status 1 and one error line when the file cannot be written (a missing
// folder, no permission), where the studio used to quit with 0 and no file.
// Writes the screenshot (if asked) and quits: 1 when it, or what came before it (`failed`), could not be written.
void save_and_quit(QWidget* w, const QString& file, bool failed = false) {
  const bool ok = file.isEmpty() || w->grab().save(file);
  if (!ok) print_error("cannot write the screenshot '" + file + "' (does its folder exist, and may it be written?)");
  QCoreApplication::exit(ok && !failed ? 0 : 1);
}

// --export PREFIX's files: refused before the run when one exists (never overwritten) or the folder is missing.
QString export_problem(const QString& prefix, const QStringList& suffixes) {
  if (prefix.isEmpty()) return "--export needs a PREFIX, e.g. results/sweep";
  const QFileInfo folder(QFileInfo(prefix).absolutePath());
  if (!folder.isDir()) return "--export: the folder '" + folder.filePath() + "' does not exist";
  for (const QString& x : suffixes)
    if (QFileInfo::exists(prefix + x))
      return "--export: '" + prefix + x + "' exists and is never overwritten (remove it or choose another PREFIX)";
  return QString();
}

// A number given to a start-up flag, or nullopt with one error line.
std::optional<double> number_flag(const QCommandLineParser& cli, const QCommandLineOption& o, const char* name) {
  bool ok = false;
  const double v = cli.value(o).toDouble(&ok);
  if (ok && std::isfinite(v)) return v;
  print_error(QString("--") + name + " takes a number, got '" + cli.value(o) + "'");
  return std::nullopt;
}
}  // namespace

int main(int argc, char* argv[]) {
  // --session is taken out before anything else looks at the arguments: QGuiApplication reads -session/--session ID
  // itself (X11 session management) and drops it, so the studio's own option never arrived; and its FILE is no option.
  QString session_file;
  bool session_given = false;
  std::vector<char*> args{argv[0]};
  for (int i = 1; i < argc; ++i) {
    const QByteArray a(argv[i]);
    if (a != "--session" && !a.startsWith("--session=")) {
      args.push_back(argv[i]);
      continue;
    }
    session_given = true;
    session_file = QString::fromLocal8Bit(a == "--session" ? (i + 1 < argc ? argv[++i] : "") : a.mid(10).constData());
    if (session_file.isEmpty()) {
      std::fprintf(stderr, "error: --session needs a FILE (a *.simsession saved by File > Save session)\n");
      return 2;
    }
  }
  // --help and --version print text and quit: they need no display (a server, a terminal over ssh).
  for (size_t i = 1; i < args.size(); ++i) {
    const QByteArray a(args[i]);
    if ((a == "-h" || a == "--help" || a == "--help-all" || a == "-v" || a == "--version") &&
        qEnvironmentVariableIsEmpty("QT_QPA_PLATFORM"))
      qputenv("QT_QPA_PLATFORM", "offscreen");
    // A bad --device is refused before Qt looks for a display (the same check runs again after parsing).
    if (a == "--device" || a.startsWith("--device=")) {
      const std::string value = a == "--device" ? (i + 1 < args.size() ? args[i + 1] : "") : a.mid(9).toStdString();
      try {
        sims::parse_device(value);
      } catch (const std::exception& e) {
        print_error(QString::fromStdString(sims::error_words(e)));
        return 2;
      }
    }
  }
  static int qt_argc = static_cast<int>(args.size());
  args.push_back(nullptr);
  QApplication app(qt_argc, args.data());
  QApplication::setOrganizationName("sims");
  QApplication::setApplicationName("SIMS Studio");
  QApplication::setApplicationVersion(QString::fromStdString(sims_version_text()));

  QCommandLineParser cli;
  cli.setApplicationDescription("Explore self-improving diffusion models (SIMS) interactively.");
  const QCommandLineOption help_flag = cli.addHelpOption();
  const QCommandLineOption version_flag = cli.addVersionOption();
  QCommandLineOption base({"b", "base"}, "Base model file (checkpoint, TorchScript or analytic .json).", "FILE");
  QCommandLineOption aux({"a", "aux"}, "Auxiliary model file.", "FILE");
  QCommandLineOption fresh("no-settings", "Neither read nor write remembered settings.");
  QCommandLineOption session("session", "Open a saved session (*.simsession): models and settings.", "FILE");
  QCommandLineOption bench("bench-latency",
                           "Benchmark: time slider release -> screen, drag previews, event-loop stalls (also while "
                           "training) and the image models' first preview; write JSON to FILE, then quit.", "FILE");
  QCommandLineOption bench_no_final("bench-no-final-grid", "With --bench-latency: skip timing a full image grid.");
  QCommandLineOption shot("screenshot", "Save the window to FILE after the first full result, then quit.", "FILE");
  QCommandLineOption omega("omega", "Start with this omega.", "W");
  QCommandLineOption interval("interval", "Start with this guidance interval LO:HI (inf allowed).", "LO:HI");
  QCommandLineOption step("step", "Start the step viewer at step K.", "K");
  QCommandLineOption trails("trails", "Show trails.");
  QCommandLineOption denoised("denoised", "Show D(x_t) in the step viewer.");
  QCommandLineOption train_shot("train-screenshot", "Start the Train job, save the dialog to FILE after --train-seconds, then quit.", "FILE");
  QCommandLineOption train_secs("train-seconds", "Seconds before --train-screenshot (default 8).", "S", "8");
  QCommandLineOption exports("export", "With --run-demo: write the tab's table and charts to PREFIX.csv, PREFIX.png and "
                             "PREFIX.svg and PREFIX.pdf when it finishes, then quit (refused if one of them exists).", "PREFIX");
  QCommandLineOption theme("theme", "Colours of the window: system, light or dark (default: the remembered choice of "
                           "View ▸ Theme, else system). Exports are always light.", "NAME");
  QCommandLineOption device("device", "Load models and run jobs on DEVICE: cpu or cuda[:i] (default cpu; also "
                            "Tools ▸ Compute device).", "DEVICE");
  QCommandLineOption tab("tab", "Open on tab NAME: live, sweep, loops, atlas or shift.", "NAME");
  QCommandLineOption shift_results("shift-results", "Show this shift run folder's results in the Shift tab.", "DIR");
  QCommandLineOption demo("run-demo",
                          "With --tab sweep: run the tab's default sweep of the loaded models. With --tab loops: run "
                          "the default loop with standard training, then with SIMS (overlaid). With --tab atlas: run "
                          "the default atlas (seconds). With --screenshot FILE "
                          "as well: save the window when it finishes, then quit.");
  for (auto* o : {&base, &aux, &fresh, &theme, &device, &tab, &shift_results, &demo, &exports, &shot, &omega, &interval, &step, &trails, &denoised, &train_shot, &train_secs, &session, &bench, &bench_no_final}) {
    if (o != &base && o != &aux && o != &fresh && o != &theme && o != &device && o != &tab && o != &shift_results && o != &demo && o != &session && o != &shot) o->setFlags(QCommandLineOption::HiddenFromHelp);
    cli.addOption(*o);
  }
  // Parsed here rather than by process(), which printed "SIMS Studio: Unknown option 'x'." (no "error:") and
  // exited with 1.
  if (!cli.parse(app.arguments())) {
    QString why = cli.errorText();
    if (why.endsWith('.')) why.chop(1);
    if (!why.isEmpty()) why[0] = why[0].toLower();
    print_error(why + " (see 'sims-studio --help')");
    return 2;
  }
  if (cli.isSet(help_flag) || cli.isSet("help-all")) cli.showHelp(0);
  if (cli.isSet(version_flag)) cli.showVersion();
  for (const auto& [o, name] : {std::pair<const QCommandLineOption*, const char*>{&omega, "omega"}, {&step, "step"},
                                {&train_secs, "train-seconds"}})
    if (cli.isSet(*o) && !number_flag(cli, *o, name)) return 2;

  // --interval LO:HI read as the CLI reads it (it was split by hand: 'abc:1' set 0:1, '5' was ignored).
  std::optional<std::pair<double, double>> guidance_interval;
  if (cli.isSet(interval)) {
    try {
      guidance_interval = sims::experiment::parse_interval(cli.value(interval).toStdString(), "--interval");
    } catch (const std::exception& e) {
      print_error(QString::fromStdString(sims::error_words(e)));
      return 2;
    }
  }

  StudioOptions opts;
  opts.base = cli.value(base);
  opts.aux = cli.value(aux);
  opts.session = session_file;
  opts.remember = !cli.isSet(fresh) && !cli.isSet(shot) && !cli.isSet(train_shot) && !cli.isSet(bench) && !cli.isSet(exports);
  if (cli.isSet(theme)) {
    Theme t;
    if (!parse_theme(cli.value(theme), &t)) {
      print_error("--theme must be system, light or dark, got '" + cli.value(theme) + "'");
      return 2;
    }
    opts.theme = theme_name(t);
  }
  if (cli.isSet(device)) {
    try {
      sims::set_face_device(sims::parse_device(cli.value(device).toStdString()));
    } catch (const std::exception& e) {
      print_error(QString::fromStdString(sims::error_words(e)));
      return 2;
    }
  }
  // Checked before the window opens: the tab's name, and that the files named exist (a missing --base opened the
  // window with the shipped models and said nothing on the command line).
  int tab_index = 0;
  if (cli.isSet(tab)) {
    const QStringList names{"live", "sweep", "loops", "atlas", "shift"};
    tab_index = static_cast<int>(names.indexOf(cli.value(tab).toLower()));
    if (tab_index < 0) {
      print_error("--tab must be live, sweep, loops, atlas or shift, got '" + cli.value(tab) + "'");
      return 2;
    }
  }
  const bool shift_tab = tab_index == 4;
  const bool demo_run = cli.isSet(demo) && tab_index > 0 && !shift_tab;
  if (cli.isSet(exports)) {
    const QStringList suffixes = tab_index == 3 ? QStringList{".csv", ".png"} : QStringList{".csv", ".png", ".svg", ".pdf"};
    const QString why = !demo_run ? QString("--export needs --run-demo with --tab sweep, loops or atlas")
                                  : export_problem(cli.value(exports), suffixes);
    if (!why.isEmpty()) {
      print_error(why);
      return 2;
    }
  }
  for (const auto& [o, name, folder] : {std::tuple<const QCommandLineOption*, const char*, bool>{&base, "base", false},
                                        {&aux, "aux", false}, {&shift_results, "shift-results", true}}) {
    if (!cli.isSet(*o)) continue;
    const QFileInfo f(cli.value(*o));
    const QString why = !f.exists() ? "does not exist" : folder && !f.isDir() ? "is not a folder"
                                                        : !folder && f.isDir() ? "is a folder, not a model file" : "";
    if (!why.isEmpty()) {
      print_error(QString("--") + name + ": '" + cli.value(*o) + "' " + why);
      return 2;
    }
  }
  // The window needs the shipped data (assets/): without them, one error line (it was an uncaught exception).
  std::unique_ptr<MainWindow> window;
  try {
    window = std::make_unique<MainWindow>(opts);
  } catch (const std::exception& e) {
    print_error(QString::fromStdString(sims::error_words(e)));
    return 1;
  }
  MainWindow& w = *window;
  // A model file given that did not load: its reason on the command line too (the window shows it as well).
  if ((cli.isSet(base) || cli.isSet(aux)) && !w.messages()->last_error().isEmpty())
    print_error(w.messages()->last_error());
  if (session_given && !w.open_session(session_file))
    print_error(w.messages()->last_error());
  if (cli.isSet(omega) || cli.isSet(interval)) {
    GuidanceSettings g = w.guidance()->settings();
    if (cli.isSet(omega)) g.omega = cli.value(omega).toDouble();
    if (cli.isSet(interval)) std::tie(g.lo, g.hi) = *guidance_interval;
    w.guidance()->set_settings(g);
    w.request(false);
  }
  if (cli.isSet(step)) w.steps()->slider()->setValue(cli.value(step).toInt());
  if (cli.isSet(trails)) w.steps()->findChild<QCheckBox*>("trails")->setChecked(true);
  if (cli.isSet(denoised)) w.steps()->findChild<QComboBox*>("stepWhat")->setCurrentIndex(1);
  w.show();

  if (cli.isSet(bench)) {
    const QString file = cli.value(bench);
    StudioBenchOptions bo;
    bo.image_final = !cli.isSet(bench_no_final);
    QTimer::singleShot(0, &w, [&w, file, bo] {
      const QJsonObject r = run_studio_bench(w, bo, [](const QString& line) { std::fprintf(stderr, "%s\n", qPrintable(line)); });
      QFile f(file);
      const bool ok = f.open(QIODevice::WriteOnly) && f.write(QJsonDocument(r).toJson()) > 0;
      if (!ok) print_error("cannot write '" + file + "'");
      QCoreApplication::exit(ok && !r.contains("error") ? 0 : 1);
    });
  }

  // --tab / --run-demo: the analysis tabs (for users, documentation and CI screenshots).
  if (cli.isSet(tab)) w.tabs()->setCurrentIndex(tab_index);
  if (cli.isSet(shift_results) && !w.shift_view()->load_results(cli.value(shift_results)))
    print_error("cannot show shift results from '" + cli.value(shift_results) + "': " + w.messages()->last_error());
  // The Shift tab has no --run-demo: a run that shows the effect takes minutes on a CPU (the committed
  // miniature 29 min; 200 aux images / 1k fine-tuning images / 4 x 100 samples took 70 s and moved the
  // share by 4 points only), so it shows results (the committed example, or --shift-results DIR).
  if (cli.isSet(demo) && shift_tab)
    std::fprintf(stderr, "note: --run-demo has no default run for the shift tab; showing its results instead\n");
  if (demo_run) {
    QTimer::singleShot(200, &w, [&w, tab_index] {
      if (tab_index == 1) w.sweep_view()->start();
      else if (tab_index == 3) w.atlas_view()->start();
      else w.loop_view()->start();
    });
    auto sims_next = std::make_shared<bool>(tab_index == 2);
    if (cli.isSet(shot) || cli.isSet(exports)) {
      const QString file = cli.value(shot), prefix = cli.value(exports);
      auto export_failed = std::make_shared<bool>(false);
      auto save = [&w, file, prefix, sims_next, tab_index, export_failed](int state) {
        if (*sims_next && state == static_cast<int>(sims::engine::JobState::Finished)) return;  // SIMS comes next
        if (!prefix.isEmpty()) {
          bool ok = false;
          if (tab_index == 1) {
            SweepView* v = w.sweep_view();
            ok = v->export_csv(prefix + ".csv") && v->export_png(prefix + ".png") && v->export_svg(prefix + ".svg") &&
                 v->export_pdf(prefix + ".pdf");
          } else if (tab_index == 3) {
            AtlasView* v = w.atlas_view();  // PNG and CSV only
            ok = v->export_csv(prefix + ".csv") && v->export_png(prefix + ".png");
          } else {
            LoopView* v = w.loop_view();
            ok = v->export_csv(prefix + ".csv") && v->export_png(prefix + ".png") && v->export_svg(prefix + ".svg") &&
                 v->export_pdf(prefix + ".pdf");
          }
          if (!ok)
            print_error("could not export to " + prefix + (tab_index == 3 ? ".{csv,png}" : ".{csv,png,svg,pdf}"));
          *export_failed = !ok;
        }
        QTimer::singleShot(600, &w, [&w, file, export_failed] { save_and_quit(&w, file, *export_failed); });
      };
      if (tab_index == 1) QObject::connect(w.sweep_view(), &SweepView::finished, &w, save);
      else if (tab_index == 3) QObject::connect(w.atlas_view(), &AtlasView::finished, &w, save);
      else QObject::connect(w.loop_view(), &LoopView::finished, &w, save);
    }
    // Loops: standard first; once it is done, the same loop with SIMS over it (connected after
    // the screenshot's handler, which reads the flag before this one clears it).
    if (tab_index == 2)
      QObject::connect(w.loop_view(), &LoopView::finished, &w, [&w, sims_next](int state) {
        if (!*sims_next || state != static_cast<int>(sims::engine::JobState::Finished)) return;
        *sims_next = false;
        LoopPlan p = w.loop_view()->plan();
        p.sims = true;
        w.loop_view()->set_plan(p);
        QTimer::singleShot(0, w.loop_view(), &LoopView::start);
      });
  }

  if (cli.isSet(shot) && (shift_tab || (tab_index > 0 && !demo_run))) {
    // The shift tab shows its results when it is first shown (synchronously), the other analysis tabs without
    // --run-demo their empty form (the live tab's first result, which the branch below waits for, never comes
    // while another tab is in front); give the charts a moment to lay out.
    const QString file = cli.value(shot);
    QTimer::singleShot(1200, &w, [&w, file] { save_and_quit(&w, file); });
  } else if (cli.isSet(shot) && !demo_run) {
    const QString file = cli.value(shot);
    const int k = cli.isSet(step) ? cli.value(step).toInt() : -1;
    QObject::connect(&w, &MainWindow::result_shown, &w, [&w, file, k](quint64, bool preview) {
      if (preview) return;
      if (k >= 0) w.steps()->slider()->setValue(k);
      QTimer::singleShot(400, &w, [&w, file] { save_and_quit(&w, file); });
    });
  }
  if (cli.isSet(train_shot)) {
    const QString file = cli.value(train_shot);
    TrainPanel* t = w.train_panel();
    TrainPlan plan = t->plan();
    plan.out_dir = "/tmp/sims-studio-train-shot";
    t->set_plan(plan);
    t->show();
    t->start();
    QTimer::singleShot(static_cast<int>(cli.value(train_secs).toDouble() * 1000), t, [t, file] {
      const bool ok = t->grab().save(file);
      if (!ok) print_error("cannot write the screenshot '" + file + "' (does its folder exist, and may it be written?)");
      t->cancel();
      QTimer::singleShot(200, qApp, [ok] { QCoreApplication::exit(ok ? 0 : 1); });
    });
  }
  return app.exec();
}
