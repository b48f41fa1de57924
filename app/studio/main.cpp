// sims-studio: the Qt 6 desktop face of SIMS Studio. Everything heavy runs in
// the engine's workers (core/engine); this file only parses the command line.
// Hidden flags for documentation and CI: --screenshot FILE saves the window
// once the first full-quality result is shown, then quits.
#include <cmath>

#include <QApplication>
#include <QCheckBox>
#include <QCommandLineParser>
#include <QComboBox>
#include <QPushButton>
#include <QSlider>
#include <QTimer>

#include "guidance_panel.hpp"
#include "interval_bar.hpp"
#include "main_window.hpp"
#include "step_viewer.hpp"
#include "train_panel.hpp"

using namespace sims::ui;

int main(int argc, char* argv[]) {
  QApplication app(argc, argv);
  QApplication::setOrganizationName("sims");
  QApplication::setApplicationName("SIMS Studio");
  QApplication::setApplicationVersion(SIMS_VERSION);

  QCommandLineParser cli;
  cli.setApplicationDescription("Explore self-improving diffusion models (SIMS) interactively.");
  cli.addHelpOption();
  cli.addVersionOption();
  QCommandLineOption base({"b", "base"}, "Base model file (checkpoint, TorchScript or analytic .json).", "FILE");
  QCommandLineOption aux({"a", "aux"}, "Auxiliary model file.", "FILE");
  QCommandLineOption fresh("no-settings", "Neither read nor write remembered settings.");
  QCommandLineOption shot("screenshot", "Save the window to FILE after the first full result, then quit.", "FILE");
  QCommandLineOption omega("omega", "Start with this omega.", "W");
  QCommandLineOption interval("interval", "Start with this guidance interval LO:HI (inf allowed).", "LO:HI");
  QCommandLineOption step("step", "Start the step viewer at step K.", "K");
  QCommandLineOption trails("trails", "Show trails.");
  QCommandLineOption denoised("denoised", "Show D(x_t) in the step viewer.");
  QCommandLineOption train_shot("train-screenshot", "Start the Train job, save the dialog to FILE after --train-seconds, then quit.", "FILE");
  QCommandLineOption train_secs("train-seconds", "Seconds before --train-screenshot (default 8).", "S", "8");
  for (auto* o : {&base, &aux, &fresh, &shot, &omega, &interval, &step, &trails, &denoised, &train_shot, &train_secs}) {
    if (o != &base && o != &aux && o != &fresh) o->setFlags(QCommandLineOption::HiddenFromHelp);
    cli.addOption(*o);
  }
  cli.process(app);

  StudioOptions opts;
  opts.base = cli.value(base);
  opts.aux = cli.value(aux);
  opts.remember = !cli.isSet(fresh) && !cli.isSet(shot) && !cli.isSet(train_shot);
  MainWindow w(opts);
  if (cli.isSet(omega) || cli.isSet(interval)) {
    GuidanceSettings g = w.guidance()->settings();
    if (cli.isSet(omega)) g.omega = cli.value(omega).toDouble();
    if (cli.isSet(interval)) {
      const QStringList p = cli.value(interval).split(':');
      if (p.size() == 2) {
        g.lo = p[0].toDouble();
        g.hi = p[1] == "inf" ? std::numeric_limits<double>::infinity() : p[1].toDouble();
      }
    }
    w.guidance()->set_settings(g);
    w.request(false);
  }
  if (cli.isSet(step)) w.steps()->slider()->setValue(cli.value(step).toInt());
  if (cli.isSet(trails)) w.steps()->findChild<QCheckBox*>("trails")->setChecked(true);
  if (cli.isSet(denoised)) w.steps()->findChild<QComboBox*>("stepWhat")->setCurrentIndex(1);
  w.show();

  if (cli.isSet(shot)) {
    const QString file = cli.value(shot);
    const int k = cli.isSet(step) ? cli.value(step).toInt() : -1;
    QObject::connect(&w, &MainWindow::result_shown, &w, [&w, file, k](quint64, bool preview) {
      if (preview) return;
      if (k >= 0) w.steps()->slider()->setValue(k);
      QTimer::singleShot(400, &w, [&w, file] {
        w.grab().save(file);
        QApplication::quit();
      });
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
      t->grab().save(file);
      t->cancel();
      QTimer::singleShot(200, qApp, &QApplication::quit);
    });
  }
  return app.exec();
}
