// GUI smoke tests of sims-studio, run off-screen (QT_QPA_PLATFORM=offscreen)
// by CTest: the window opens with the shipped models, moving the omega slider
// produces new samples (previews while dragging, full quality on release), a
// training job starts, reports progress and cancels while the UI stays live,
// and export writes a PNG; the Sweep and Loops tabs run, stream their
// results into charts, rows and tables, cancel, and export CSV/SVG/PNG. Also
// measures re-sample latency after a slider release and the preview rate
// while dragging (printed; SIMS_BENCH_OUT=FILE writes them as JSON).
#include <algorithm>
#include <cmath>
#include <limits>

#include <QCheckBox>
#include <QComboBox>
#include <QDialog>
#include <QDoubleSpinBox>
#include <QDir>
#include <QScopeGuard>
#include <QElapsedTimer>
#include <QFile>
#include <QImageReader>
#include <QJsonDocument>
#include <QJsonObject>
#include <QLabel>
#include <QLineEdit>
#include <QMenu>
#include <QPushButton>
#include <QRegularExpression>
#include <QHBoxLayout>
#include <QScrollArea>
#include <QSlider>
#include <QSpinBox>
#include <QStandardPaths>
#include <QTabWidget>
#include <QTableWidget>
#include <QTemporaryDir>
#include <QXmlStreamReader>
#include <QtTest/QtTest>

#include <ATen/ATen.h>

#include "common/device.hpp"
#include "common/paths.hpp"
#include "loops/tune.hpp"
#include "analysis_chart.hpp"
#include "export_controller.hpp"
#include "engine/job_runner.hpp"
#include "guidance_panel.hpp"
#include "image_grid_view.hpp"
#include "plot_painter.hpp"
#include "interval_bar.hpp"
#include "live_view.hpp"
#include "atlas_view.hpp"
#include "loop_view.hpp"
#include "main_window.hpp"
#include "message_area.hpp"
#include "theme.hpp"
#include "models_panel.hpp"
#include "point_view.hpp"
#include "sample_strip.hpp"
#include "shift_view.hpp"
#include "step_viewer.hpp"
#include "sweep_view.hpp"
#include "train_panel.hpp"
#include "diffusion/denoiser.hpp"
#include "sampling/edm_sampler.hpp"

using namespace sims;
using namespace sims::ui;

namespace {

// The file's first bytes, its lines (CSV) and, for SVG, a well-formedness
// check with element counts.
QByteArray head_of(const QString& path, int n) {
  QFile f(path);
  return f.open(QIODevice::ReadOnly) ? f.read(n) : QByteArray();
}
QStringList csv_lines(const QString& path) {
  QFile f(path);
  if (!f.open(QIODevice::ReadOnly | QIODevice::Text)) return {};
  return QString::fromUtf8(f.readAll()).split('\n', Qt::SkipEmptyParts);
}
QMap<QString, int> svg_elements(const QString& path, QString* error) {
  QFile f(path);
  QMap<QString, int> count;
  if (!f.open(QIODevice::ReadOnly)) return count;
  QXmlStreamReader x(&f);
  while (!x.atEnd())
    if (x.readNext() == QXmlStreamReader::StartElement) count[x.name().toString()]++;
  if (x.hasError()) *error = x.errorString();
  return count;
}
void check_png(const QString& path, int min_w, int min_h) {
  QCOMPARE(head_of(path, 8), QByteArray("\x89PNG\r\n\x1a\n", 8));
  QImage img(path);
  QVERIFY(!img.isNull());
  QVERIFY(img.width() >= min_w && img.height() >= min_h);
  QSet<QRgb> colours;
  for (int y = 0; y < img.height(); y += 5)
    for (int x = 0; x < img.width(); x += 5) colours.insert(img.pixel(x, y));
  QVERIFY(colours.size() > 10);  // not blank
}

}  // namespace

class StudioTest : public QObject {
  Q_OBJECT

 private:
  std::unique_ptr<MainWindow> w_;
  QTemporaryDir tmp_;
  QString base_, aux_;
  QJsonObject bench_;

  uint64_t stamp() const { return w_->last_result() ? w_->last_result()->stamp : 0; }
  // Waits for a shown result newer than `after` (full quality unless preview_ok).
  bool wait_result(uint64_t after, bool preview_ok = false, int ms = 60000) {
    QElapsedTimer t;
    t.start();
    while (t.elapsed() < ms) {
      auto r = w_->last_result();
      if (r && r->stamp > after && (preview_ok || !r->request.preview)) return true;
      QCoreApplication::processEvents(QEventLoop::AllEvents, 5);
      QThread::msleep(1);
    }
    return false;
  }
  void drag_omega(int value) {
    QSlider* s = w_->guidance()->omega_slider();
    s->setSliderDown(true);
    s->setSliderPosition(value);  // emits sliderMoved: a preview request
  }
  void release_omega() { w_->guidance()->omega_slider()->setSliderDown(false); }

 private Q_SLOTS:
  void initTestCase() {
    QVERIFY(tmp_.isValid());
    // SIMS_TEST_BASE / SIMS_TEST_AUX: measure other models than the shipped ones.
    base_ = qEnvironmentVariable("SIMS_TEST_BASE", shipped_model("base"));
    aux_ = qEnvironmentVariable("SIMS_TEST_AUX", shipped_model("aux"));
    if (!QFileInfo::exists(base_) || !QFileInfo::exists(aux_)) {
      // Not shipped (yet): make small ones the way the Train panel does.
      qWarning("shipped models missing; training small ones into %s", qPrintable(tmp_.path()));
      TrainPlan p;
      p.n_data = 1000;
      p.base_budget = 30000;
      p.n_synth = 1000;
      p.aux_budget = 10000;
      p.net_config = sims::asset_path("networks/mlp2d-small.json");
      p.out_dir = tmp_.path().toStdString();
      engine::JobRunner runner;
      auto job = runner.submit("models", [p](engine::JobContext& ctx) -> std::any { return run_train_plan(p, ctx); });
      job->wait();
      QCOMPARE(QString::fromStdString(job->error()), QString());
      base_ = QString::fromStdString(p.base_path());
      aux_ = QString::fromStdString(p.aux_path());
    }
    StudioOptions o;
    o.base = base_;
    o.aux = aux_;
    o.remember = false;
    w_ = std::make_unique<MainWindow>(o);
    w_->resize(1400, 900);
    w_->show();
  }

  void opensWithModels() {
    QVERIFY(w_->models()->base());
    QVERIFY(w_->models()->aux());
    QCOMPARE(w_->models()->base()->info().sample_shape, std::vector<int64_t>{2});
    QVERIFY(wait_result(0));
    auto r = w_->last_result();
    QCOMPARE(r->x.size(0), int64_t{2000});
    QVERIFY(r->base_x.defined());  // compare view on by default
    QCOMPARE(r->trajectory.states.size(), size_t(33));
    QVERIFY(r->x.isfinite().all().item<bool>());
    QCOMPARE(w_->messages()->error_count(), 0);
    QVERIFY(!w_->sims_view()->content().samples.data.empty());
    // A tuned auxiliary (`sims tune` wrote AUX.tune.json beside it) starts the live view at its ω.
    if (const auto tuned = loops::read_tuned_pair(aux_.toStdString())) {
      QCOMPARE(w_->guidance()->settings().omega, tuned->omega);
      QCOMPARE(r->request.guidance.omega, tuned->omega);
    }
    // The studio opens on a pair where the tuned SIMS beats the base beyond its interval (sims tune's record;
    // the CLI tests re-check it on fresh data), and offers every shipped pair.
    if (aux_ == shipped_model("aux")) {
      const auto tuned = loops::read_tuned_pair(aux_.toStdString());
      QVERIFY(tuned && tuned->significant && tuned->gain.lo > 0);
    }
    auto* shipped = w_->findChild<QMenu*>("shippedMenu");
    QVERIFY(shipped);
    QCOMPARE(shipped->actions().size(), 3);
  }

  void omegaSliderProducesNewSamples() {
    QVERIFY(wait_result(0));
    auto before = w_->last_result();
    QSlider* s = w_->guidance()->omega_slider();
    s->setValue(s->value() == 150 ? 200 : 150);  // keyboard-like change: one full request
    QVERIFY(wait_result(before->stamp));
    auto after = w_->last_result();
    QVERIFY(after->stamp > before->stamp);
    QCOMPARE(after->request.guidance.omega, s->value() / 100.0);
    QVERIFY((after->x - before->x).abs().max().item<double>() > 1e-6);
    // Same seeds: the base comparison did not change (and was not recomputed).
    QCOMPARE((after->base_x - before->base_x).abs().max().item<double>(), 0.0);
  }

  void previewWhileDraggingThenFullOnRelease() {
    QVERIFY(wait_result(0));
    const uint64_t s0 = stamp();
    drag_omega(80);
    QVERIFY(wait_result(s0, true));
    auto prev = w_->last_result();
    QVERIFY(prev->request.preview);
    QCOMPARE(prev->x.size(0), int64_t{400});
    release_omega();
    QVERIFY(wait_result(prev->stamp));
    auto full = w_->last_result();
    QCOMPARE(full->x.size(0), int64_t{2000});
    QCOMPARE(full->request.guidance.omega, 0.8);
    QVERIFY(w_->sims_view()->content().footer.startsWith("full quality"));
    // The preview's points are the full run's first rows (same noise; float32
    // networks on other batch sizes round differently, which a few points
    // near the boundary between two modes amplify).
    at::Tensor d = (full->x.narrow(0, 0, 400) - prev->x).abs().amax(1);
    QVERIFY(d.lt(1e-3).to(at::kDouble).mean().item<double>() > 0.95);
  }

  void intervalReusesThePrefix() {
    QVERIFY(wait_result(0));
    GuidanceSettings g = w_->guidance()->settings();
    g.lo = 0.3;
    g.hi = 5.0;
    w_->guidance()->set_settings(g);
    w_->request(false);
    QVERIFY(wait_result(stamp() - 0));
    const uint64_t s0 = stamp();
    w_->guidance()->omega_slider()->setValue(230);
    QVERIFY(wait_result(s0));
    const int first = w_->guidance()->interval_bar()->guided_steps().first;
    QVERIFY(first > 0);
    QCOMPARE(w_->last_result()->reused_steps, first);
  }

  // The samplers refuse an empty interval (LO = HI): dragging a handle onto the other at either end of the bar
  // leaves an interval that guides no step but is still a valid one (it gave 0:0 and inf:inf).
  void intervalDraggedToAnEndStaysValid() {
    QVERIFY(wait_result(0));
    IntervalBar* bar = w_->guidance()->interval_bar();
    const double inf = std::numeric_limits<double>::infinity();
    const auto drag = [&](double x0, double x1) {
      const double y = 37;  // the axis' middle (IntervalBar::axis: 30 + 15 / 2)
      for (const auto& [type, x] : {std::pair<QEvent::Type, double>{QEvent::MouseButtonPress, x0},
                                    {QEvent::MouseMove, x1}, {QEvent::MouseButtonRelease, x1}}) {
        const QPointF at(x, y);
        QMouseEvent ev(type, at, bar->mapToGlobal(at), Qt::LeftButton,
                       type == QEvent::MouseButtonRelease ? Qt::NoButton : Qt::LeftButton, Qt::NoModifier);
        QApplication::sendEvent(bar, &ev);
      }
    };
    const double left = 10, right = bar->width() - 10;  // σ = ∞ and σ = 0
    const auto valid = [&] {
      try {
        Guidance{1.0, bar->lo(), bar->hi()}.validate();
        return true;
      } catch (const std::exception&) {
        return false;
      }
    };
    bar->set_interval(0, inf);
    drag(right, left);  // LO from 0 to the far left
    QVERIFY(std::isfinite(bar->lo()));
    QVERIFY(bar->hi() > bar->lo());
    QVERIFY(valid());
    QCOMPARE(bar->guided_steps().first, w_->guidance()->settings().steps);  // no step guided
    bar->set_interval(0, inf);
    drag(left, right);  // HI from ∞ to the far right
    QCOMPARE(bar->lo(), 0.0);
    QVERIFY(bar->hi() > 0);
    QVERIFY(valid());
    QCOMPARE(bar->guided_steps().first, w_->guidance()->settings().steps);
    GuidanceSettings gs = w_->guidance()->settings();
    gs.lo = 0, gs.hi = inf;
    w_->guidance()->set_settings(gs);
  }

  // Issue 13: ω can be typed; the box and the slider follow each other, and a typed value is sampled.
  void typedOmegaIsSampled() {
    QVERIFY(wait_result(0));
    GuidancePanel* g = w_->guidance();
    const uint64_t s0 = stamp();
    const double w = g->omega_slider()->value() == 137 ? 0.42 : 1.37;
    g->omega_box()->setValue(w);
    QCOMPARE(g->omega_slider()->value(), static_cast<int>(std::lround(w * 100)));
    // A request sent before the change can finish after it (seen under load: ω 2.3 of an earlier test): wait for
    // the newer results until one of the typed ω is shown.
    uint64_t seen = s0;
    while (wait_result(seen) && w_->last_result()->request.guidance.omega != w) seen = stamp();
    QVERIFY(w_->last_result()->stamp > s0);
    QCOMPARE(w_->last_result()->request.guidance.omega, w);
    g->omega_slider()->setValue(-50);
    QCOMPARE(g->omega_box()->value(), -0.5);
    QVERIFY(g->omega_box()->prefix().startsWith("ω"));
  }

  void stepViewerScrubs() {
    QVERIFY(wait_result(0));
    StepViewer* sv = w_->steps();
    QCOMPARE(sv->slider()->maximum(), 32);
    QCOMPARE(sv->step(), 32);
    const auto final_pts = w_->sims_view()->content().samples.data;
    const QRectF final_box = w_->sims_view()->content().bounds;
    sv->slider()->setValue(10);
    QVERIFY(w_->sims_view()->content().samples.data != final_pts);
    QVERIFY(w_->sims_view()->content().subtitle.contains("after 10 of 32 steps"));
    // The axes follow sigma: x_t at step 10 (sigma about 10) spreads wider than the final samples.
    QVERIFY(w_->sims_view()->content().bounds.width() > 1.5 * final_box.width());
    sv->findChild<QCheckBox*>("followSigma")->setChecked(false);
    QCOMPARE(w_->sims_view()->content().bounds, final_box);
    sv->findChild<QCheckBox*>("followSigma")->setChecked(true);
    sv->findChild<QCheckBox*>("trails")->setChecked(true);
    QCOMPARE(w_->sims_view()->content().trails.size(), size_t(14));
    QCOMPARE(w_->sims_view()->content().trails[0].size(), size_t(33));
    sv->findChild<QCheckBox*>("trails")->setChecked(false);
    // Playback at 32 steps/s with loop: 31, 32, then it wraps to 0 and keeps going.
    sv->findChild<QComboBox*>("playSpeed")->setCurrentIndex(4);
    sv->findChild<QCheckBox*>("playLoop")->setChecked(true);
    sv->slider()->setValue(30);
    QList<int> seen;
    auto conn = connect(sv->slider(), &QSlider::valueChanged, this, [&seen](int v) { seen << v; });
    sv->findChild<QPushButton*>("play")->setChecked(true);
    QTRY_VERIFY_WITH_TIMEOUT(seen.size() >= 4, 5000);
    disconnect(conn);
    QCOMPARE(seen.mid(0, 4), (QList<int>{31, 32, 0, 1}));
    QVERIFY(sv->findChild<QPushButton*>("play")->isChecked());
    sv->findChild<QPushButton*>("play")->setChecked(false);
    sv->findChild<QCheckBox*>("playLoop")->setChecked(false);
    sv->findChild<QComboBox*>("playSpeed")->setCurrentIndex(2);
    sv->slider()->setValue(32);
  }

  // The point views zoom with the wheel about the cursor, pan by dragging, keep the zoom while the steps change
  // (the axes are then fixed), and fit again on double-click.
  void pointViewZoomsAndPans() {
    QVERIFY(wait_result(0));
    auto* view = dynamic_cast<PointView*>(w_->sims_view());
    QVERIFY(view);
    QWidget* canvas = view->findChild<QWidget*>();
    QVERIFY(canvas);
    const QRectF fitted = view->shown_bounds();
    const QPoint centre(canvas->width() / 2, canvas->height() / 2);
    QWheelEvent wheel(centre, canvas->mapToGlobal(centre), QPoint(), QPoint(0, 240), Qt::NoButton, Qt::NoModifier,
                      Qt::NoScrollPhase, false);
    QCoreApplication::sendEvent(canvas, &wheel);
    QVERIFY(view->zoomed());
    const QRectF zoomed = view->shown_bounds();
    // The base view beside it follows (same axes for the comparison).
    auto* base_view = dynamic_cast<PointView*>(w_->base_view());
    QVERIFY(base_view);
    QCOMPARE(base_view->shown_bounds(), zoomed);
    QVERIFY(zoomed.width() < 0.8 * fitted.width());
    // Drag right by 50 px: the range moves left (the data follow the cursor).
    QTest::mousePress(canvas, Qt::LeftButton, {}, centre);
    QMouseEvent move(QEvent::MouseMove, QPointF(centre + QPoint(50, 0)), canvas->mapToGlobal(QPointF(centre + QPoint(50, 0))),
                     Qt::NoButton, Qt::LeftButton, Qt::NoModifier);
    QCoreApplication::sendEvent(canvas, &move);
    QTest::mouseRelease(canvas, Qt::LeftButton, {}, centre + QPoint(50, 0));
    QVERIFY(view->shown_bounds().left() < zoomed.left());
    QCOMPARE(view->shown_bounds().width(), zoomed.width());
    // Another step keeps the user's range.
    const QRectF panned = view->shown_bounds();
    w_->steps()->slider()->setValue(20);
    QCOMPARE(view->shown_bounds(), panned);
    QCOMPARE(base_view->shown_bounds(), panned);
    QTest::mouseDClick(canvas, Qt::LeftButton, {}, centre);
    QVERIFY(!view->zoomed());
    QVERIFY(!base_view->zoomed());
    QCOMPARE(view->shown_bounds(), view->content().bounds);
    w_->steps()->slider()->setValue(32);
  }

  void missingModelIsAMessage() {
    const int errors = w_->messages()->error_count();
    QVERIFY(!w_->models()->load(ModelRole::Aux, tmp_.filePath("no-such-model.ckpt")));
    QCOMPARE(w_->messages()->error_count(), errors + 1);
    QVERIFY(w_->messages()->last_error().contains("does not exist"));
    QFile junk(tmp_.filePath("junk.ckpt"));
    QVERIFY(junk.open(QIODevice::WriteOnly));
    junk.write("this is not a model");
    junk.close();
    QVERIFY(!w_->models()->load(ModelRole::Base, junk.fileName()));
    QCOMPARE(w_->messages()->error_count(), errors + 2);
    QVERIFY(w_->models()->aux());  // the previous models stay
    QVERIFY(w_->models()->base());
  }

  void trainJobStartsAndCancels() {
    TrainPanel* t = w_->train_panel();
    TrainPlan p = t->plan();
    p.base_budget = 20000000;  // far more than the test waits for
    p.out_dir = tmp_.filePath("train").toStdString();
    t->set_plan(p);
    t->show();
    QSignalSpy done(t, &TrainPanel::finished);
    t->start_button()->click();
    QVERIFY(t->job());
    QTRY_VERIFY_WITH_TIMEOUT(t->loss_points() >= 2, 60000);  // progress events reach the chart
    QVERIFY(t->job()->last_progress().fraction > 0);
    QVERIFY(t->job()->last_progress().eta > 0);
    // The UI and the live sampler keep going while the job runs.
    const uint64_t s0 = stamp();
    w_->guidance()->omega_slider()->setValue(50);
    QVERIFY(wait_result(s0));
    QVERIFY(!t->job()->done());
    t->cancel_button()->click();
    QTRY_VERIFY_WITH_TIMEOUT(done.count() == 1, 60000);
    QCOMPARE(t->job()->state(), engine::JobState::Cancelled);
    QCOMPARE(done.at(0).at(0).toInt(), static_cast<int>(engine::JobState::Cancelled));
    QVERIFY(t->start_button()->isEnabled());
    t->hide();
  }

  // Issue 13: the Train dialog's defaults gave a blurred square instead of 25 modes. They are now the shipped
  // pair's recipe; trained here from scratch, the base must put most samples on the 25 modes and miss none.
  void trainRecipeGivesTwentyFiveModes() {
    TrainPanel* t = w_->train_panel();
    const TrainPlan before = t->plan();
    TrainPlan p = recommended_train_plan("grid25");
    QCOMPARE(p.net_config, sims::asset_path("networks/mlp2d-small.json"));
    p.out_dir = tmp_.filePath("recipe").toStdString();
    t->set_plan(p);
    QCOMPARE(t->plan().lr, 2e-3);
    QVERIFY(t->findChild<QLabel*>("trainRecipe")->text().contains("shipped pair"));
    t->findChild<QSpinBox*>("baseBudget")->setValue(100000);  // an edit: the line says so at once
    QVERIFY(t->findChild<QLabel*>("trainRecipe")->text().contains("Changed from the recipe"));
    t->set_plan(p);
    // Another data set brings its own recipe; the U-Net configurations are not offered for 2D data.
    auto* ds = t->findChild<QComboBox*>("dataset");
    ds->setCurrentText("gaussian");
    Q_EMIT ds->textActivated("gaussian");
    QCOMPARE(t->plan().net_config, sims::asset_path("networks/mlp2d.json"));
    QCOMPARE(t->plan().base_budget, int64_t(200000));
    QCOMPARE(t->plan().out_dir, p.out_dir);
    auto* net = t->findChild<QComboBox*>("net");
    for (int i = 0; i < net->count(); ++i) QVERIFY(net->itemText(i).startsWith("mlp2d"));
    t->set_plan(before);

    engine::JobRunner runner;
    // Trained and sampled in a job (the studio's own threads stay as they are). Only the base is checked, so the
    // auxiliary's part is kept small.
    p.n_synth = 500, p.aux_budget = 5000;
    auto job = runner.submit("recipe", [p](engine::JobContext& ctx) -> std::any {
      run_train_plan(p, ctx);
      SamplerConfig sc;
      sc.steps = 32;
      EdmSampler sampler(load_denoiser(p.base_path()), nullptr, sc, Guidance{0.0, 0.0, INFINITY});
      return sampler.sample(seeded_noise(2000, {2}, 5)).x.to(at::kDouble);
    });
    QTRY_VERIFY_WITH_TIMEOUT(job->done(), 300000);
    QCOMPARE(QString::fromStdString(job->error()), QString());
    const at::Tensor x = std::any_cast<at::Tensor>(job->result());
    // Modes at 0.7 * {-2..2}^2 with noise 0.05: nearest mode of each sample, and how far.
    const at::Tensor idx = (x / 0.7).round().clamp(-2, 2);
    const at::Tensor d = (x - idx * 0.7).norm(2, 1);
    const double on_modes = d.lt(0.15).to(at::kDouble).mean().item<double>();
    const at::Tensor mode = (idx.select(1, 0) + 2) * 5 + (idx.select(1, 1) + 2);
    const at::Tensor counts = at::bincount(mode.masked_select(d.lt(0.15)).to(at::kLong), {}, 25);
    qInfo("recipe base: %.1f %% of samples within 0.15 of a mode, fewest on a mode: %lld", 100 * on_modes,
          static_cast<long long>(counts.min().item<int64_t>()));
    QVERIFY(on_modes > 0.8);  // a uniform square over the grid puts about 17 % there
    QVERIFY(counts.min().item<int64_t>() >= 20);  // about 80 expected per mode
  }

  void exportWritesPng() {
    QVERIFY(wait_result(0));
    const QString f = tmp_.filePath("view.png");
    QVERIFY(w_->export_png(f));
    QFile file(f);
    QVERIFY(file.open(QIODevice::ReadOnly));
    QCOMPARE(file.read(8), QByteArray("\x89PNG\r\n\x1a\n", 8));
    QImage img(f);
    QVERIFY(!img.isNull());
    QVERIFY(img.width() > 400 && img.height() > 200);  // base | SIMS side by side
    // Not blank: the points are there.
    QSet<QRgb> colours;
    for (int y = 0; y < img.height(); y += 7)
      for (int x = 0; x < img.width(); x += 7) colours.insert(img.pixel(x, y));
    QVERIFY(colours.size() > 20);
    // A caption band under the views (models, ω, interval, steps, sampler, seed): taller than the views.
    QVERIFY(img.height() >= w_->sims_view()->render_image().height() + 20);
    bool caption_ink = false;
    for (int x = 0; x < img.width() && !caption_ink; ++x)
      for (int y = img.height() - 18; y < img.height() - 4; ++y)
        if (qGray(img.pixel(x, y)) < 140) caption_ink = true;
    QVERIFY(caption_ink);
    QVERIFY(!w_->export_png(tmp_.filePath("no/such/dir/view.png")));
  }

  // Tools ▸ Compute device offers exactly the devices this process sees, CPU ticked; the models live there.
  void computeDeviceMenu() {
    QVERIFY(wait_result(0));
    auto* menu = w_->findChild<QMenu*>("deviceMenu");
    QVERIFY(menu);
    QStringList offered, disabled;
    for (QAction* a : menu->actions()) {
      if (a->isCheckable()) offered << a->text();
      else if (!a->isEnabled()) disabled << a->text();
    }
    QStringList expected;
    for (const auto& d : available_devices()) expected << QString::fromStdString(d);
    QCOMPARE(offered, expected);
    auto* cpu = w_->findChild<QAction*>("device-cpu");
    QVERIFY(cpu && cpu->isChecked());
    QCOMPARE(QString::fromStdString(device_name(face_device())), QString("cpu"));
    QVERIFY(w_->models()->base() && w_->models()->base()->device().is_cpu());
    if (expected.size() == 1) QVERIFY(disabled.size() == 1 && disabled[0].contains("no CUDA"));
    const auto before = w_->models()->base();
    cpu->trigger();  // the current device again: nothing reloads
    QCOMPARE(w_->models()->base(), before);
    // A device the models cannot move to (cuda:99: no machine here has a hundred GPUs; without CUDA, any cuda
    // device): the models, the device and the tick stay where they were, with an error line.
    const int errors = w_->messages()->error_count();
    QVERIFY(!w_->use_device("cuda:99"));
    QVERIFY(w_->messages()->error_count() > errors);
    QVERIFY2(w_->messages()->last_error().contains("could not move the models to cuda:99; staying on cpu"),
             qPrintable(w_->messages()->last_error()));
    QCOMPARE(w_->models()->base(), before);
    QCOMPARE(QString::fromStdString(device_name(face_device())), QString("cpu"));
    QVERIFY(cpu->isChecked());
    // An index no GPU can have: refused by name (LibTorch's parser made cuda:200 into cuda:-56).
    QVERIFY(!w_->use_device("cuda:200"));
    QVERIFY2(w_->messages()->last_error().contains("'cuda:200' cannot be used") &&
                 w_->messages()->last_error().contains("a GPU index is at most 127"),
             qPrintable(w_->messages()->last_error()));
    QCOMPARE(w_->models()->base(), before);
    QVERIFY(cpu->isChecked());
    for (const char* bad : {"gpu", "meta", "cuda:x"}) {  // not a compute device's name
      QVERIFY(!w_->use_device(bad));
      QVERIFY2(w_->messages()->last_error().contains(QString("'%1' cannot be used").arg(bad)),
               qPrintable(w_->messages()->last_error()));
      QCOMPARE(w_->models()->base(), before);
      QCOMPARE(QString::fromStdString(device_name(face_device())), QString("cpu"));
    }
  }

  // View ▸ Theme: the window and the views on screen turn dark; exports stay on paper, pixel for pixel.
  void themeDarkOnScreenLightInExports() {
    QVERIFY(wait_result(0));
    const auto restore = qScopeGuard([] { apply_theme(Theme::System); });
    auto* dark = w_->findChild<QAction*>("theme-dark");
    auto* light = w_->findChild<QAction*>("theme-light");
    QVERIFY(dark && light && w_->findChild<QMenu*>("themeMenu"));
    light->trigger();
    QVERIFY(!theme_is_dark());
    const QImage paper = w_->sims_view()->render_image();
    auto mean_grey = [](const QImage& img) {
      double sum = 0;
      int n = 0;
      for (int y = 0; y < img.height(); y += 5)
        for (int x = 0; x < img.width(); x += 5, ++n) sum += qGray(img.pixel(x, y));
      return n ? sum / n : -1.0;
    };
    const double light_screen = mean_grey(w_->sims_view()->grab().toImage());
    dark->trigger();
    QVERIFY(dark->isChecked() && !light->isChecked());
    QCOMPARE(current_theme(), Theme::Dark);
    QVERIFY(theme_is_dark());
    QVERIFY(QApplication::palette().color(QPalette::Window).lightness() < 80);
    QCoreApplication::processEvents();
    const double dark_screen = mean_grey(w_->sims_view()->grab().toImage());
    qInfo("mean grey of the SIMS view on screen: light %.0f, dark %.0f", light_screen, dark_screen);
    QVERIFY(light_screen > 200 && dark_screen < 80);
    QCOMPARE(w_->sims_view()->render_image(), paper);  // the export does not change with the theme
    // Text tones follow: a muted label's colour and the message area's lines are redrawn readable on dark.
    QVERIFY(tone(Tone::Muted).lightness() > 128 && tone(Tone::Error).lightness() > 110);
    auto* about = w_->findChild<QLabel*>("sweepAbout");
    QVERIFY(about);
    QVERIFY(about->styleSheet().contains(tone_hex(Tone::Muted)));
    w_->messages()->error("a test error in the dark");
    QVERIFY(w_->messages()->document()->toHtml().contains(tone_hex(Tone::Error)));
    light->trigger();
    QVERIFY(!theme_is_dark());
    QVERIFY(about->styleSheet().contains(tone_hex(Tone::Muted)));
    QVERIFY(w_->messages()->document()->toHtml().contains(tone_hex(Tone::Error)));  // redrawn in the light red
  }

  // View menu: Ctrl+1..4 switch tabs, Space plays and pauses the steps on the Live tab (the actions are
  // triggered through their shortcuts as registered; key delivery itself is Qt's, and depends on focus).
  void viewMenuShortcuts() {
    QVERIFY(wait_result(0));
    auto* menu = w_->findChild<QMenu*>("viewMenu");
    QVERIFY(menu);
    auto action_for = [&](const QKeySequence& k) -> QAction* {
      for (QAction* a : menu->actions())
        if (a->shortcut() == k) return a;
      return nullptr;
    };
    QTabWidget* tabs = w_->tabs();
    for (int i = 0; i < tabs->count(); ++i) {
      QAction* a = action_for(QKeySequence(QString("Ctrl+%1").arg(i + 1)));
      QVERIFY(a);
      a->trigger();
      QCOMPARE(tabs->currentIndex(), i);
    }
    action_for(QKeySequence("Ctrl+1"))->trigger();
    QCOMPARE(tabs->currentIndex(), 0);
    QVERIFY(wait_result(0));
    QPushButton* play = w_->live_view()->steps()->play_button();
    QVERIFY(play->isEnabled());
    QAction* space = action_for(QKeySequence(Qt::Key_Space));
    QVERIFY(space);
    const bool was = play->isChecked();
    space->trigger();
    QCOMPARE(play->isChecked(), !was);
    space->trigger();
    QCOMPARE(play->isChecked(), was);
  }

  // View > Pin: the result shown stays in the left view while the settings change; flicker alternates the right
  // view between live and pinned; the animation then shows pinned | live; Unpin restores the base alone.
  void pinCompareAndFlicker() {
    QVERIFY(wait_result(0));
    LiveView* lv = w_->live_view();
    QVERIFY(lv->pin());
    const engine::LiveResultPtr pinned = lv->pinned();
    QVERIFY(pinned);
    QSlider* om = w_->guidance()->omega_slider();
    om->setValue(om->value() == 40 ? 160 : 40);
    QVERIFY(wait_result(pinned->stamp));
    QVERIFY(w_->last_result()->request.guidance.omega != pinned->request.guidance.omega);
    QVERIFY(w_->base_view()->isVisible());
    const ViewContent& left = w_->base_view()->content();
    QVERIFY2(left.title.startsWith("Pinned"), qPrintable(left.title));
    QVERIFY(left.title.contains(QString::number(pinned->request.guidance.omega, 'f', 2)));
    QCOMPARE(left.samples.count(), pinned->x.size(0));
    lv->set_flicker(true);
    QVERIFY(lv->flicker());
    QTRY_VERIFY_WITH_TIMEOUT(w_->sims_view()->content().title.contains("flicker"), 3000);
    QTRY_VERIFY_WITH_TIMEOUT(!w_->sims_view()->content().title.contains("flicker"), 3000);
    const QString gif = tmp_.filePath("pinned.gif");
    QVERIFY(w_->exports()->export_animation(gif, 8.0));
    QImageReader r(gif);
    QCOMPARE(r.imageCount(), w_->last_result()->request.sampler.steps + 1);
    // Difference (Ctrl+D): flicker stops; live − pinned on the same noise, each sample with a segment from its pinned
    // place, and the mean displacement with its interval; the numbers are the tensors' own.
    QAction* diff_action = nullptr;
    for (QAction* a : w_->findChild<QMenu*>("viewMenu")->actions())
      if (a->shortcut() == QKeySequence("Ctrl+D")) diff_action = a;
    QVERIFY(diff_action);
    w_->steps()->slider()->setValue(w_->steps()->slider()->maximum());  // the final samples (step 0 is the shared noise)
    diff_action->trigger();
    QVERIFY(lv->difference());
    QVERIFY(!lv->flicker());
    const ViewContent& d = w_->sims_view()->content();
    QVERIFY2(d.title.startsWith("Difference"), qPrintable(d.title));
    QVERIFY(!d.trails.empty());
    QCOMPARE(d.trails[0].size(), size_t{2});
    QCOMPARE(d.reference.count(), pinned->x.size(0));
    const at::Tensor shift = (w_->last_result()->x - pinned->x).to(at::kDouble);
    const double mean_len = shift.pow(2).sum(1).sqrt().mean().item<double>();
    QVERIFY2(d.footer.startsWith("mean shift ") && d.footer.contains("95 % CI"), qPrintable(d.footer));
    const double shown = d.footer.section(' ', 2, 2).toDouble();
    QVERIFY2(std::abs(shown - mean_len) <= 0.02 * mean_len + 1e-6, qPrintable(d.footer));  // printed rounded
    // Another seed: no pairing, and the subtitle says why.
    w_->guidance()->findChild<QSpinBox*>("seed")->setValue(w_->last_result()->request.seed + 1);
    const quint64 before = w_->last_result()->stamp;
    w_->request(false);
    QVERIFY(wait_result(before));
    QVERIFY(w_->sims_view()->content().trails.empty());
    QVERIFY2(w_->sims_view()->content().subtitle.contains("seed"), qPrintable(w_->sims_view()->content().subtitle));
    lv->set_flicker(true);
    QVERIFY(!lv->difference());
    lv->unpin();
    QVERIFY(!lv->flicker());
    QVERIFY(!lv->difference());
    QVERIFY(!lv->pinned());
    QVERIFY(!w_->base_view()->content().title.startsWith("Pinned"));
  }

  // File > Export denoising animation: one frame per step of the result shown, base alone | SIMS, read back by
  // Qt's own GIF and PNG readers; a bad path writes nothing and says so.
  void exportAnimation() {
    QVERIFY(wait_result(0));
    const auto last = w_->last_result();
    const int steps = last->request.sampler.steps;
    const QString gif = tmp_.filePath("denoise.gif");
    QVERIFY(w_->exports()->export_animation(gif, 8.0));
    QImageReader r(gif);
    QCOMPARE(r.format(), QByteArray("gif"));
    QVERIFY(r.supportsAnimation());
    QCOMPARE(r.imageCount(), steps + 1);
    const QImage first = r.read();
    QVERIFY(!first.isNull());
    QVERIFY(first.width() > 700 && first.height() > 400);  // two panels side by side
    QVERIFY(r.nextImageDelay() > 0);
    const QString png = tmp_.filePath("denoise.png");
    QVERIFY(w_->exports()->export_animation(png, 8.0));
    QImage still(png);  // a reader without APNG support shows the first frame
    QCOMPARE(still.size(), first.size());
    QVERIFY(!w_->exports()->export_animation(tmp_.filePath("no/such/dir/a.gif")));
    QVERIFY(!w_->exports()->export_animation(tmp_.filePath("a.mp4")));
    QVERIFY(!QFile::exists(tmp_.filePath("a.mp4")));
  }

  // File > Export ω × seed grid: a labelled PNG from a background job; bad input and cancel write nothing.
  void exportGridWritesLabelledPng() {
    QVERIFY(wait_result(0));
    const QString f = tmp_.filePath("grid.png");
    engine::JobPtr job = w_->start_grid_export(f, "0,1,2", "0,1", 200);
    QVERIFY(job);
    QVERIFY(job->wait_for(120));
    QCOMPARE(QString::fromStdString(job->error()), QString());
    QCOMPARE(job->state(), engine::JobState::Finished);
    QCoreApplication::processEvents();
    check_png(f, 3 * 220, 2 * 220);  // 3 omega columns x 2 seed rows of 220 px scatter cells, plus labels
    const QString bad = tmp_.filePath("bad.png");
    QVERIFY(!w_->start_grid_export(bad, "0,x", "0", 100));
    QVERIFY(!w_->start_grid_export(bad, "0,1", "-1", 100));
    QVERIFY(!w_->start_grid_export(tmp_.filePath("no/such/dir/grid.png"), "0,1", "0", 100));
    QVERIFY(!QFileInfo::exists(bad));
    const QString c = tmp_.filePath("cancelled.png");
    engine::JobPtr j2 = w_->start_grid_export(c, "0,0.5,1,1.5,2,2.5,3", "0,1,2,3,4,5", 2000);
    QVERIFY(j2);
    j2->cancel();
    QVERIFY(j2->wait_for(60));
    QCOMPARE(j2->state(), engine::JobState::Cancelled);
    QCoreApplication::processEvents();
    QVERIFY(!QFileInfo::exists(c));
  }

  // [Sessions] save -> change -> open restores; a bad file changes nothing; recent files.
 private:
  struct Snapshot {
    GuidanceSettings g;
    bool denoised, trails;
    int tab;
    QString base, aux;
  };
  Snapshot snapshot() const {
    auto* tabs = w_->findChild<QTabWidget*>("mainTabs");
    return {w_->guidance()->settings(), w_->steps()->show_denoised(), w_->steps()->show_trails(),
            tabs ? tabs->currentIndex() : -1, w_->models()->path(ModelRole::Base), w_->models()->path(ModelRole::Aux)};
  }
  static bool same(const Snapshot& a, const Snapshot& b) {
    return a.g.omega == b.g.omega && a.g.lo == b.g.lo && a.g.hi == b.g.hi && a.g.steps == b.g.steps &&
           a.g.sampler == b.g.sampler && a.g.seed == b.g.seed && a.g.points == b.g.points && a.g.compare == b.g.compare &&
           a.denoised == b.denoised && a.trails == b.trails && a.tab == b.tab && a.base == b.base && a.aux == b.aux;
  }
  void restore_defaults() {
    GuidanceSettings d;
    d.omega = 0.5;  // not the slider's start (1.0): later tests drag to 1.0 and need it to move
    w_->guidance()->set_settings(d);
    w_->steps()->set_show_denoised(false);
    w_->steps()->set_show_trails(false);
    if (auto* tabs = w_->findChild<QTabWidget*>("mainTabs")) tabs->setCurrentIndex(0);
    w_->request(false);  // skipped when the same request is already in flight or shown
    QTRY_VERIFY_WITH_TIMEOUT(w_->live().idle() && stamp() == w_->live().latest_stamp(), 60000);
  }

 private Q_SLOTS:
  void sessionSaveThenOpenRestores() {
    QVERIFY(wait_result(0));
    GuidanceSettings g = w_->guidance()->settings();
    g.omega = 1.7;
    g.lo = 0.3;
    g.hi = 5.0;
    g.steps = 24;
    g.sampler = SamplerKind::Euler;
    g.seed = 123;
    g.points = 1000;
    g.compare = false;
    w_->guidance()->set_settings(g);
    w_->steps()->set_show_denoised(true);
    w_->steps()->set_show_trails(true);
    auto* tabs = w_->findChild<QTabWidget*>("mainTabs");
    if (tabs) tabs->setCurrentIndex(tabs->count() - 1);
    const Snapshot saved = snapshot();
    const QString file = tmp_.filePath("a.simsession");
    QVERIFY(w_->save_session(file));
    QVERIFY(QFileInfo::exists(file));
    QVERIFY(!QFileInfo::exists(file + ".tmp"));
    QFile saved_file(file);
    QVERIFY(saved_file.open(QIODevice::ReadOnly));
    const QJsonObject j = QJsonDocument::fromJson(saved_file.readAll()).object();
    QCOMPARE(j.value("format").toString(), QString("sims-studio-session"));
    QCOMPARE(j.value("guidance").toObject().value("sampler").toString(), QString("euler"));

    // Change everything, then open the session again.
    restore_defaults();
    QVERIFY(!same(snapshot(), saved));
    const uint64_t s0 = stamp();
    QVERIFY(w_->open_session(file));
    QVERIFY(same(snapshot(), saved));
    QCOMPARE(w_->guidance()->settings().omega, 1.7);
    QCOMPARE(w_->guidance()->sampler_config().kind, SamplerKind::Euler);
    // The restored settings drive the next result (once the Live tab is shown: the restored Shift tab pauses it).
    QVERIFY(w_->live_view()->paused());
    QTest::qWait(200);
    QCOMPARE(stamp(), s0);
    if (tabs) tabs->setCurrentIndex(0);
    QVERIFY(wait_result(s0));
    const auto& q = w_->last_result()->request;
    QCOMPARE(q.sampler.steps, 24);
    QCOMPARE(q.sampler.kind, SamplerKind::Euler);
    QCOMPARE(q.n, int64_t{1000});
    QCOMPARE(q.seed, uint64_t{123});
    QVERIFY(!q.compare_base);
    QCOMPARE(w_->recent_files().value(0), "session:" + QFileInfo(file).absoluteFilePath());
    restore_defaults();
  }

  // A session given at start-up (sims-studio --session) is the pair loaded: once, with no word of the shipped or
  // remembered pair; opening it right after (as the studio's main does) finds it in place. A session whose models
  // do not load leaves the shipped pair and one error naming the session.
  void sessionAtStartUpLoadsItsPairOnce() {
    // The session names the grid25 pair; the studio's usual pair is the gaussian one.
    const QString base = shipped_model("base", "grid25"), aux = shipped_model("aux", "grid25");
    QVERIFY(QFileInfo::exists(base) && QFileInfo::exists(aux) && base != shipped_model("base"));
    const QString file = tmp_.filePath("startup.simsession");
    QFile f(file);
    QVERIFY(f.open(QIODevice::WriteOnly));
    f.write(QString(R"({"format": "sims-studio-session", "version": 1, "models": {"base": "%1", "aux": "%2"},
                        "guidance": {"omega": 1.25, "steps": 12}})")
                .arg(base, aux)
                .toUtf8());
    f.close();
    {
      StudioOptions o;
      o.remember = false;
      o.session = file;
      MainWindow w(o);
      QCOMPARE(QFileInfo(w.models()->path(ModelRole::Base)).fileName(), QString("grid25-base.ckpt"));
      QCOMPARE(QFileInfo(w.models()->path(ModelRole::Aux)).fileName(), QString("grid25-aux.ckpt"));
      const QString said = w.messages()->toPlainText();
      QVERIFY2(!said.contains("gaussian-") && !said.contains("tuned pair"), qPrintable(said));
      QCOMPARE(said.count("loaded base model grid25-base.ckpt"), 1);
      // The file is read once: changed after start-up, the session opened next is still the one read then.
      QVERIFY(f.open(QIODevice::WriteOnly | QIODevice::Truncate));
      f.write(QString(R"({"format": "sims-studio-session", "version": 1, "models": {"base": "%1", "aux": "%2"},
                          "guidance": {"omega": 2.5, "steps": 12}})")
                  .arg(base, aux)
                  .toUtf8());
      f.close();
      QVERIFY(w.open_session(file));  // as the studio's main does next: the pair is in place
      const QString after = w.messages()->toPlainText();
      QCOMPARE(after.count("loaded base model"), 1);
      QCOMPARE(after.count("loaded auxiliary model"), 1);
      QCOMPARE(w.guidance()->settings().omega, 1.25);
      QCOMPARE(w.guidance()->settings().steps, 12);
      QCOMPARE(w.messages()->error_count(), 0);
      QVERIFY(w.open_session(file));  // any later open reads the file
      QCOMPARE(w.guidance()->settings().omega, 2.5);
    }
    // Sessions open_session refuses (a model missing; good models but a tab no studio has): the usual pair stays,
    // so that "nothing was changed" is true, and the one error says why.
    const struct {
      QString name, models, why;
    } refused[] = {
        {"startup-bad.simsession", R"({"base": "/no/such/model.ckpt"})", "does not exist"},
        {"startup-tab.simsession", QString(R"({"base": "%1", "aux": "%2"}, "tab": "gallery")").arg(base, aux),
         "unknown tab 'gallery'"},
    };
    for (const auto& c : refused) {
      QFile bad(tmp_.filePath(c.name));
      QVERIFY(bad.open(QIODevice::WriteOnly));
      bad.write((R"({"format": "sims-studio-session", "version": 1, "models": )" + c.models + "}").toUtf8());
      bad.close();
      StudioOptions o;
      o.remember = false;
      o.session = bad.fileName();
      MainWindow w(o);
      QCOMPARE(w.models()->path(ModelRole::Aux), shipped_model("aux"));
      QVERIFY(w.models()->base() && w.models()->aux());
      QCOMPARE(w.messages()->error_count(), 0);
      QVERIFY(!w.open_session(bad.fileName()));
      QCOMPARE(w.messages()->error_count(), 1);
      const QString said = w.messages()->last_error();
      QVERIFY2(said.contains(c.why) && said.contains("nothing was changed"), qPrintable(said));
    }
  }

  void badSessionChangesNothing() {
    QVERIFY(wait_result(0));
    const Snapshot before = snapshot();
    auto write = [&](const QString& name, const QByteArray& bytes) {
      QFile f(tmp_.filePath(name));
      if (f.open(QIODevice::WriteOnly)) f.write(bytes);
      return f.fileName();
    };
    const QString valid_models = QString(R"("models": {"base": "%1", "aux": "%2"})").arg(base_, aux_);
    const struct {
      QString file, why;
    } cases[] = {
        {write("junk.simsession", "{ this is not json"), "not valid JSON"},
        {write("other.simsession", R"({"format": "something-else", "version": 1})"), "not a SIMS Studio session"},
        {write("omega.simsession", (R"({"format": "sims-studio-session", "version": 1, )" + valid_models +
                                    R"(, "guidance": {"omega": 7}})").toUtf8()),
         "omega"},
        {write("steps.simsession", (R"({"format": "sims-studio-session", "version": 1, )" + valid_models +
                                    R"(, "guidance": {"steps": "many"}})").toUtf8()),
         "steps"},
        {write("model.simsession", R"({"format": "sims-studio-session", "version": 1,
                                       "models": {"base": "/no/such/model.ckpt"}, "guidance": {"omega": 2.5}})"),
         "does not exist"},
        {tmp_.filePath("missing.simsession"), "does not exist"},
        // A model file that reads but holds a value of the wrong kind: the model's own reason, in the session's line.
        {write("kind.simsession", (R"({"format": "sims-studio-session", "version": 1, "models": {"base": ")" +
                                   write("kind.json", R"({"kind": 5, "components": []})") + R"("}})").toUtf8()),
         "kind is not text"},
    };
    for (const auto& c : cases) {
      const int errors = w_->messages()->error_count();
      QVERIFY2(!w_->open_session(c.file), qPrintable(c.file));
      // One line that names the session, says why and that nothing changed.
      QCOMPARE(w_->messages()->error_count(), errors + 1);
      const QString said = w_->messages()->last_error();
      QVERIFY2(said.contains(c.why) && said.contains("nothing was changed") && said.contains(QFileInfo(c.file).fileName()),
               qPrintable(said));
      QVERIFY2(same(snapshot(), before), qPrintable(c.file));
      QVERIFY(!w_->recent_files().contains("session:" + QFileInfo(c.file).absoluteFilePath()));
    }
    QVERIFY(w_->models()->base() && w_->models()->aux());
  }

  // A tuning that found no significant gain does not move ω to its choice (it may make the samples worse): the
  // guidance stays and the log says why, with the verdict rebuilt from the file's numbers.
  void untunedPairLeavesOmega() {
    const QString aux = tmp_.filePath("untuned-aux.ckpt");
    QFile::remove(aux);
    QVERIFY(QFile::copy(aux_, aux));
    QFile f(tmp_.filePath("untuned-aux.tune.json"));
    QVERIFY(f.open(QIODevice::WriteOnly | QIODevice::Truncate));
    f.write(R"J({"omega": 2.5, "budget": 2000, "metric": "energy", "significant": false, "n": 500, "steps": 32,
               "real": "gaussian (seed 777)", "energy": 0.004, "energy_lo": 0.002, "energy_hi": 0.006,
               "energy_omega0": 0.001, "energy_omega0_lo": 0.0, "energy_omega0_hi": 0.002,
               "gain": -0.003, "gain_lo": -0.0045, "gain_hi": -0.0015, "verdict": "old words"})J");
    f.close();
    GuidanceSettings g = w_->guidance()->settings();
    g.omega = 0.75;
    w_->guidance()->set_settings(g);
    QVERIFY(w_->models()->load(ModelRole::Aux, aux));
    QCOMPARE(w_->guidance()->settings().omega, 0.75);
    const QString said = w_->messages()->toPlainText();
    QVERIFY2(said.contains("tuned pair without a significant gain: ω stays at 0.75 (the tuning's ω = 2.5)"), qPrintable(said));
    QVERIFY2(said.contains("SIMS does not help: it raises energy by 0.0030 ± 0.0015 at ω = 2.5") &&
                 said.contains("(sims tune: 500 samples per ω, held-out real data gaussian (seed 777))") &&
                 !said.contains("old words"),
             qPrintable(said));
    QVERIFY(w_->models()->load(ModelRole::Aux, aux_));  // the shipped pair again, at its tuned ω
  }

  void recentFilesAreRemembered() {
    QVERIFY(w_->models()->load(ModelRole::Aux, aux_));
    QCOMPARE(w_->recent_files().value(0), "aux:" + QFileInfo(aux_).absoluteFilePath());
    for (int i = 0; i < 10; ++i) QVERIFY(w_->save_session(tmp_.filePath(QString("s%1.simsession").arg(i))));
    QCOMPARE(w_->recent_files().size(), 8);  // at most 8, newest first
    QCOMPARE(w_->recent_files().value(0), "session:" + QFileInfo(tmp_.filePath("s9.simsession")).absoluteFilePath());
    QVERIFY(!w_->recent_files().contains("aux:" + QFileInfo(aux_).absoluteFilePath()));
    // Saving the same file again moves it to the front instead of repeating it.
    QVERIFY(w_->save_session(tmp_.filePath("s5.simsession")));
    QCOMPARE(w_->recent_files().value(0), "session:" + QFileInfo(tmp_.filePath("s5.simsession")).absoluteFilePath());
    QCOMPARE(w_->recent_files().size(), 8);
    QCOMPARE(w_->recent_files().filter("s5.simsession").size(), 1);
    auto* menu = w_->findChild<QMenu*>("recentMenu");
    QVERIFY(menu);
    QVERIFY(menu->actions().size() >= 8);
    QVERIFY(menu->actions().value(0)->text().contains("s5.simsession"));
  }

  // [Image models] a quick preview first, then the full grid; Stop ends the run.
  void imageModelsPreviewFirstThenStop() {
    const QString fb = QString::fromStdString(sims::asset_path("models/faces-base.ckpt")),
                  fa = QString::fromStdString(sims::asset_path("models/faces-aux.ckpt"));
    if (!QFileInfo::exists(fb) || !QFileInfo::exists(fa)) QSKIP("the shipped image models are missing");
    // Whatever happens below, the tests that follow get the 2D models back.
    struct Restore {
      StudioTest* t;
      ~Restore() {
        if (t->w_->models()->path(ModelRole::Base) != t->base_) t->w_->models()->load_pair(t->base_, t->aux_);
      }
    } restore{this};
    QVERIFY(w_->models()->load_pair(fb, fa));
    // 2D-only controls are hidden for image models.
    QVERIFY(w_->guidance()->findChild<QSpinBox*>("points")->isHidden());
    QVERIFY(w_->steps()->findChild<QCheckBox*>("trails")->isHidden());
    QVERIFY(wait_result(w_->live().latest_stamp() - 1, true));  // the request load_pair made
    auto pre = w_->last_result();
    QVERIFY(pre->request.preview);
    QVERIFY(pre->refining);
    QCOMPARE(pre->x.size(0), int64_t{4});
    QCOMPARE(pre->request.run_config().steps, 8);
    QVERIFY(w_->guidance()->quality_text().contains("preview"));
    QVERIFY(w_->sims_view()->content().footer.startsWith("preview"));
    QVERIFY(w_->guidance()->stop_button()->isEnabled());
    // An omega change while the full grid is computed: the new preview comes quickly.
    const uint64_t s1 = stamp();
    QElapsedTimer t;
    t.start();
    w_->guidance()->omega_slider()->setValue(w_->guidance()->omega_slider()->value() == 150 ? 50 : 150);
    QVERIFY(wait_result(s1, true));
    qInfo("image models: omega change -> first preview shown in %lld ms", static_cast<long long>(t.elapsed()));
    QVERIFY(w_->last_result()->request.preview);
    // Stop: the run ends, nothing newer is shown, the button is disabled.
    const uint64_t shown = stamp();
    w_->guidance()->stop_button()->click();
    QTRY_VERIFY_WITH_TIMEOUT(w_->live().idle(), 10000);
    QVERIFY(!w_->guidance()->stop_button()->isEnabled());
    QVERIFY(w_->guidance()->quality_text().contains("stopped"));
    QTest::qWait(100);
    QCOMPARE(stamp(), shown);
    // A 2D auxiliary with the image base: the view says it does not fit, omega is off, the base alone is sampled.
    QVERIFY(w_->models()->load(ModelRole::Aux, aux_));
    QVERIFY(!w_->guidance()->omega_slider()->isEnabled());
    QTRY_VERIFY_WITH_TIMEOUT(w_->sims_view()->content().title.contains("does not fit"), 60000);
    QVERIFY(w_->sims_view()->content().subtitle.contains("3x32x32"));
    w_->guidance()->stop_button()->click();
    QTRY_VERIFY_WITH_TIMEOUT(w_->live().idle(), 10000);
    // Back to the 2D models for the tests that follow.
    QVERIFY(w_->models()->load_pair(base_, aux_));
    QVERIFY(!w_->guidance()->findChild<QSpinBox*>("points")->isHidden());
    QVERIFY(!w_->steps()->findChild<QCheckBox*>("trails")->isHidden());
    QVERIFY(w_->guidance()->omega_slider()->isEnabled());
    QVERIFY(wait_result(w_->live().latest_stamp() - 1));
    QCOMPARE(w_->last_result()->x.size(0), int64_t{2000});
  }

  void modelsPanelSaysWhenTheAuxiliaryIsAnotherModel() {
    // SIMS wants the base's own fine-tune: another model as the auxiliary is loaded (a legitimate experiment) and said.
    const QString other = shipped_model("aux", "grid25");
    if (!QFileInfo::exists(other)) QSKIP("the shipped grid25 pair is missing");
    w_->tabs()->setCurrentIndex(0);  // the Live tab: its sampler runs (other tabs pause it)
    MessageArea* log = w_->messages();
    const QString doubt = "SIMS steers away from the base's own samples only with";
    const int said = log->toPlainText().count(doubt);
    QVERIFY(w_->models()->load_pair(base_, other));
    QVERIFY2(log->toPlainText().count(doubt) == said + 1 && log->toPlainText().contains("(not its fine-tune)"),
             qPrintable(log->toPlainText().right(400)));
    QVERIFY(w_->models()->load_pair(base_, aux_));  // its own auxiliary: nothing more said
    QCOMPARE(log->toPlainText().count(doubt), said + 1);
    QVERIFY(wait_result(w_->live().latest_stamp() - 1));
  }

  void imageGridKeepsCellsAndEnlargesOnClick() {
    // A preview of 4 images laid out in the full grid's 36 cells keeps the cell size of the full grid.
    ImageGridView v;
    v.resize(420, 420);
    ViewContent c;
    c.title = "SIMS";
    c.samples.shape = {3, 8, 8};
    c.samples.data.assign(4 * 3 * 8 * 8, 0.25f);
    c.grid_cells = 36;
    v.set_content(c);
    (void)v.render_image();  // lays the grid out as a paint does
    const QRectF preview = v.grid_rect();
    c.samples.data.assign(36 * 3 * 8 * 8, -0.5f);
    v.set_content(c);
    (void)v.render_image();
    QCOMPARE(v.grid_rect(), preview);
    const QRectF g = v.grid_rect();
    const double cell = g.width() / 6;
    QCOMPARE(v.image_at(g.topLeft() + QPointF(cell * 1.5, cell * 0.5)), 1);
    QCOMPARE(v.image_at(g.topLeft() + QPointF(cell * 0.5, cell * 5.5)), 30);
    QCOMPARE(v.image_at(QPointF(1, 1)), -1);
    // A click opens the image large.
    v.show();
    QTest::mouseClick(&v, Qt::LeftButton, {}, (g.topLeft() + QPointF(cell * 1.5, cell * 0.5)).toPoint());
    auto* dlg = v.findChild<QDialog*>("enlargedImage");
    QVERIFY(dlg);
    QVERIFY(dlg->windowTitle().contains("sample 2"));  // numbered from 1 for people
    dlg->close();
  }

  // Not a pass/fail test: numbers for the docs (2000 points x 32 Heun steps).
  void benchLatencyAndPreviewRate() {
    GuidanceSettings g = w_->guidance()->settings();
    g.points = 2000;
    g.steps = 32;
    for (const auto& [name, lo, hi] : {std::tuple<const char*, double, double>{"everywhere", 0.0, INFINITY},
                                       std::tuple<const char*, double, double>{"interval_0.3_5", 0.3, 5.0}}) {
      g.lo = lo;
      g.hi = hi;
      w_->guidance()->set_settings(g);
      w_->request(false);  // skipped when the same request is already in flight or shown
      QTRY_VERIFY_WITH_TIMEOUT(w_->live().idle() && stamp() == w_->live().latest_stamp(), 60000);
      std::vector<double> lat, compute;
      for (int i = 0; i < 8; ++i) {
        drag_omega(100 + 20 * i);
        QVERIFY(wait_result(stamp(), true));
        const uint64_t s0 = stamp();
        QElapsedTimer t;
        t.start();
        release_omega();
        QVERIFY(wait_result(s0));
        lat.push_back(t.nsecsElapsed() / 1e6);
        compute.push_back(w_->last_result()->compute_seconds * 1000);
      }
      std::sort(lat.begin(), lat.end());
      std::sort(compute.begin(), compute.end());
      qInfo("release -> full result shown (2000 pts x 32 steps, SIMS, guidance %s): median %.1f ms, max %.1f ms "
            "(worker compute median %.1f ms)", name, lat[lat.size() / 2], lat.back(), compute[compute.size() / 2]);
      bench_[QString("release_latency_ms_") + name] = lat[lat.size() / 2];
      bench_[QString("release_compute_ms_") + name] = compute[compute.size() / 2];
    }
    // Preview rate: the slider moves every 16 ms for 2 s (a 60 Hz drag).
    QElapsedTimer t;
    t.start();
    int moves = 0, shown = 0;
    uint64_t last = stamp();
    while (t.elapsed() < 2000) {
      drag_omega(-100 + (moves * 7) % 400);
      ++moves;
      QElapsedTimer frame;
      frame.start();
      while (frame.elapsed() < 16) {
        QCoreApplication::processEvents(QEventLoop::AllEvents, 2);
        if (stamp() > last) ++shown, last = stamp();
      }
    }
    const double secs = t.elapsed() / 1000.0;
    release_omega();
    QVERIFY(wait_result(last));
    const auto st = w_->live().stats();
    qInfo("dragging: %d slider moves in %.1f s, %d previews shown (%.1f per second, %lld points each); "
          "worker: %llu started, %llu cancelled mid-run, %llu superseded before starting",
          moves, secs, shown, shown / secs, static_cast<long long>(400), (unsigned long long)st.started,
          (unsigned long long)st.cancelled, (unsigned long long)st.superseded);
    bench_["preview_per_second"] = shown / secs;
    bench_["slider_moves_per_second"] = moves / secs;
    QVERIFY(shown > 0);
    const QByteArray out = qgetenv("SIMS_BENCH_OUT");
    if (!out.isEmpty()) {
      QFile f(QString::fromLocal8Bit(out));
      if (f.open(QIODevice::WriteOnly)) f.write(QJsonDocument(bench_).toJson());
    }
  }

  // [SECTION] Analysis tabs: Sweep and Loops ------------------------------------------------

  void analysisTabsExist() {
    QTabWidget* t = w_->tabs();
    QVERIFY(t);
    QCOMPARE(t->count(), 5);
    QCOMPARE(t->tabText(0), QString("Live"));
    QCOMPARE(t->tabText(1), QString("Sweep"));
    QCOMPARE(t->tabText(2), QString("Loops"));
    QCOMPARE(t->indexOf(w_->sweep_view()), 1);
    QCOMPARE(t->indexOf(w_->loop_view()), 2);
    QCOMPARE(t->tabText(3), QString("Atlas"));
    QCOMPARE(t->indexOf(w_->atlas_view()), 3);
    QCOMPARE(t->tabText(4), QString("Shift"));
    QCOMPARE(t->indexOf(w_->shift_view()), 4);
    // Nothing to export before a run: a message, no file.
    const int errors = w_->messages()->error_count();
    QVERIFY(!w_->sweep_view()->export_csv(tmp_.filePath("early.csv")));
    QVERIFY(!w_->loop_view()->export_svg(tmp_.filePath("early.svg")));
    QCOMPARE(w_->messages()->error_count(), errors + 2);
    QVERIFY(!QFileInfo::exists(tmp_.filePath("early.csv")));
  }

  // The three tabs share one frame (AnalysisTab): idle buttons, names, a refused start, Tab order.
  void analysisTabsShareOneFrame() {
    const std::vector<std::pair<AnalysisTab*, QString>> tabs{
        {w_->sweep_view(), "sweep"}, {w_->loop_view(), "loop"}, {w_->shift_view(), "shift"}};
    for (const auto& [tab, noun] : tabs) {
      QVERIFY(!tab->running());
      QVERIFY(tab->run_button()->isEnabled());
      QVERIFY(!tab->cancel_button()->isEnabled());
      QCOMPARE(tab->run_button()->objectName(), noun + "Run");
      QCOMPARE(tab->export_button()->objectName(), noun + "Export");
      QCOMPARE(tab->status_label()->objectName(), noun + "Status");
    }
    // A form the job refuses: a message, "Not started: …", no job, Run still enabled.
    SweepView* s = w_->sweep_view();
    auto* omegas = s->findChild<QLineEdit*>("sweepOmegas");
    QVERIFY(omegas);
    const QString keep = omegas->text();
    const engine::JobPtr before = s->job();
    const int errors = w_->messages()->error_count();
    omegas->setText("0, one");
    s->run_button()->click();
    QCOMPARE(w_->messages()->error_count(), errors + 1);
    QVERIFY(w_->messages()->last_error().startsWith("sweep: "));
    QVERIFY(s->status_label()->text().startsWith("Not started: "));
    QCOMPARE(s->job(), before);
    QVERIFY(s->run_button()->isEnabled());
    omegas->setText(keep);
    // Tab goes from the form's last field to Run, as the form reads.
    s->ensurePolished();
    QWidget* next = s->findChild<QComboBox*>("sweepMetric");  // the last field for points
    QVERIFY(next);
    do next = next->nextInFocusChain();
    while (!(next->focusPolicy() & Qt::TabFocus) || next->focusProxy() || !next->isVisibleTo(s));
    QCOMPARE(next, static_cast<QWidget*>(s->run_button()));
  }

  void sweepRunsFillsChartsAndExports() {
    w_->tabs()->setCurrentWidget(w_->sweep_view());
    SweepView* s = w_->sweep_view();
    SweepPlan p = s->plan();
    if (base_ == shipped_model("base")) QCOMPARE(p.real, std::string("gaussian"));  // from the base's checkpoint
    // The shipped pair is tuned (gaussian-aux.tune.json): the form starts as it was measured, its ω in the list.
    const auto tuned = loops::read_tuned_pair(aux_.toStdString());
    QVERIFY(tuned.has_value());
    QCOMPARE(p.metric, tuned->metric);
    QVERIFY(std::find(p.omegas.begin(), p.omegas.end(), tuned->omega) != p.omegas.end());
    p.omegas = {0, 1.5};
    p.n = 200;
    p.steps = 8;
    s->set_plan(p);
    QSignalSpy done(s, &SweepView::finished);
    QSignalSpy rows(s, &SweepView::row_added);
    s->run_button()->click();
    QVERIFY(!s->run_button()->isEnabled());
    QTRY_VERIFY_WITH_TIMEOUT(done.count() == 1, 120000);
    QCOMPARE(done.at(0).at(0).toInt(), static_cast<int>(engine::JobState::Finished));
    QCOMPARE(rows.count(), 2);  // streamed one ω at a time
    QVERIFY(s->run_button()->isEnabled());
    const auto& res = s->result();
    QCOMPARE(res.metric, tuned->metric);
    QCOMPARE(res.rows.size(), size_t(2));
    QCOMPARE(res.rows[0].omega, 0.0);
    QCOMPARE(res.rows[1].omega, 1.5);
    for (const auto& r : res.rows) {
      QVERIFY(std::isfinite(r.value));  // the energy distance of a sample can be slightly below 0
      QVERIFY(r.precision >= 0 && r.precision <= 1 && r.recall >= 0 && r.recall <= 1);
      QCOMPARE(r.kept.size(0), int64_t{200});
    }
    QCOMPARE(res.rows[0].nfe * 2, res.rows[1].nfe);  // ω = 0 samples the base alone
    // The same noise for every ω: different guidance gives different samples.
    QVERIFY((res.rows[0].kept - res.rows[1].kept).abs().max().item<double>() > 1e-4);
    // The real-data floor and the paired gain over ω = 0, which the verdict uses.
    QVERIFY(res.floor.has_interval() && res.floor.lo <= res.floor.value && res.floor.value <= res.floor.hi);
    QVERIFY(std::isfinite(res.rows[1].gain_lo) && res.rows[1].gain_lo < res.rows[1].gain_hi);
    QCOMPARE(res.rows[1].gain, res.rows[0].value - res.rows[1].value);
    // Charts: one W2 point per ω and the floor (dashed, across the ω range), two P/R points per ω; no attribute
    // chart for points.
    QCOMPARE(s->distance_chart()->series_count(), 2);
    QCOMPARE(s->distance_chart()->point_count(1), 2);
    QCOMPARE(s->distance_chart()->series(1).points[0].y(), res.floor.value);
    QCOMPARE(s->distance_chart()->point_count(0), 2);
    QCOMPARE(s->distance_chart()->series(0).points[1], QPointF(1.5, res.rows[1].value));
    QCOMPARE(s->pr_chart()->point_count(0), 2);
    QCOMPARE(s->pr_chart()->point_count(1), 2);
    QCOMPARE(s->ratio_chart()->series_count(), 0);
    QCOMPARE(s->strip()->count(), 2);
    QCOMPARE(s->table()->rowCount(), 2);
    // ω, the distance, precision, recall: NFE and time in the ω cell's tooltip, the direction in the headers'.
    QCOMPARE(s->table()->columnCount(), 4);
    QCOMPARE(s->table()->item(1, 0)->toolTip(), QString("NFE %1 · sampled and scored in %2 s").arg(res.rows[1].nfe)
                                                    .arg(res.rows[1].seconds, 0, 'f', 2));
    QVERIFY(s->table()->horizontalHeaderItem(1)->toolTip().contains("lower is better"));
    // Precision and recall carry their intervals in the table, as on the chart (the GUI's sweeps compute them).
    QVERIFY(std::isfinite(res.rows[1].precision_lo));
    // Given to the interval's precision (two significant digits of the half-width; at most 3 decimals for shares).
    const QString pm = QString::fromUtf8("\u2009±\u2009");
    QVERIFY2(s->table()->item(1, 2)->text().contains(pm), qPrintable(s->table()->item(1, 2)->text()));
    QVERIFY2(s->table()->item(1, 3)->text().contains(pm), qPrintable(s->table()->item(1, 3)->text()));
    const int decimals = s->table()->item(1, 2)->text().section(pm, 0, 0).section('.', 1).size();
    QVERIFY(decimals >= 1 && decimals <= 3);
    // The verdict under the charts names the weight as the charts do ("at ω = 1.5"; the core writes "omega").
    bool named = false;
    for (const QLabel* label : s->findChildren<QLabel*>())
      named = named || (label->text().contains("at ω = ") && !label->text().contains("omega"));
    QVERIFY(named);
    // Finished: the ω the verdict names is shown (the surest gain over ω = 0; here the only other ω), also when ω = 0
    // scores lower.
    const int best = 1;
    QCOMPARE(s->selected(), best);
    QVERIFY(s->large_view()->content().title.contains("1.5"));

    // Selecting: a strip cell, then a chart column.
    QTest::mouseClick(s->strip(), Qt::LeftButton, {}, s->strip()->cell_rect(1 - best).center());
    QCOMPARE(s->selected(), 1 - best);
    QVERIFY(s->large_view()->content().title.contains(QString::number(res.rows[1 - best].omega)));
    QCOMPARE(s->large_view()->content().samples.count(), int64_t{200});
    // The large view's subtitle holds every number with its interval; in a narrow view it breaks between its
    // parts (at most three lines, the plot starting lower for each) instead of losing its end.
    const ViewContent large = s->large_view()->content();
    QVERIFY2(large.wrap_texts && large.subtitle.contains("recall") && large.subtitle.count(pm) == 3,
             qPrintable(large.subtitle));
    // As wide as its widest part: nothing elided, more than one line.
    double widest = 0;
    for (const QString& part : large.subtitle.split(" · "))
      widest = std::max(widest, QFontMetricsF(subtitle_font()).horizontalAdvance(part) + 2);
    const QStringList narrow = subtitle_lines(large.subtitle, widest);
    QVERIFY2(narrow.size() >= 2 && narrow.size() <= 3 && narrow.join(" · ") == large.subtitle, qPrintable(narrow.join('|')));
    const QSize narrow_view(static_cast<int>(std::ceil(widest)) + 48, 400);
    QCOMPARE(plot_frame(narrow_view, large).plot.top(), 50 + kSubtitleLine * (narrow.size() - 1));
    ViewContent side_by_side = large;  // the Live tab's views keep one line, so that their plots stay aligned
    side_by_side.wrap_texts = false;
    QCOMPARE(plot_frame(narrow_view, side_by_side).plot.top(), 50.0);
    // Thumbnails carry the value with its interval; when one caption must break, all do, and in narrow cells the
    // interval takes a line of its own ("ω = 0", "0.0024", "± 0.0021") rather than being elided.
    const QString wide = s->strip()->caption_text(0, 1000);
    QVERIFY2(wide.contains(pm) && !wide.contains('\n'), qPrintable(wide));
    QFont caption_font = s->strip()->font();
    caption_font.setPointSizeF(9);
    int widest_piece = 0;  // of "ω = 0", "0.0024" and "± 0.0021" over both cells
    for (int i = 0; i < 2; ++i)
      for (const QString& part : s->strip()->caption_text(i, 1000).split(" · ")) {
        const int at = part.indexOf(QChar(0x00B1));
        for (const QString& piece : at > 0 ? QStringList{part.left(at).trimmed(), part.mid(at)} : QStringList{part})
          widest_piece = std::max(widest_piece, QFontMetrics(caption_font).horizontalAdvance(piece));
      }
    const QStringList three = s->strip()->caption_text(1, widest_piece).split('\n');
    QCOMPARE(three.size(), 3);
    QVERIFY2(three[2].startsWith(QChar(0x00B1)) && !three[1].contains(QChar(0x00B1)) && !three.join("").contains("…"),
             qPrintable(three.join('|')));
    QCOMPARE(s->strip()->caption_text(0, widest_piece).count('\n'), 2);
    AnalysisChart* c = s->distance_chart();
    const QPointF at = c->chart()->mapToPosition(QPointF(res.rows[best].omega, res.rows[best].value));
    QTest::mouseClick(c->viewport(), Qt::LeftButton, {}, c->mapFromScene(c->chart()->mapToScene(at)));
    QCOMPARE(s->selected(), best);
    QCOMPARE(c->highlight(), res.rows[best].omega);

    // Exports.
    const QString csv = tmp_.filePath("sweep.csv"), svg = tmp_.filePath("sweep.svg"), png = tmp_.filePath("sweep.png");
    QVERIFY(s->export_csv(csv));
    const QStringList lines = csv_lines(csv);
    QCOMPARE(lines.size(), 3);
    QVERIFY(lines[0].startsWith(QString::fromStdString("omega,interval_lo,interval_hi,aux," + res.metric + ",precision,recall")));
    QVERIFY(lines[0].contains("gain_vs_omega0,gain_vs_omega0_lo,gain_vs_omega0_hi"));
    QVERIFY(lines[2].startsWith("1.5,0,inf,"));
    QVERIFY(s->export_svg(svg));
    QVERIFY(head_of(svg, 5) == "<?xml");
    QString err;
    const auto el = svg_elements(svg, &err);
    QCOMPARE(err, QString());
    QCOMPARE(el.value("svg"), 1);
    QVERIFY(el.value("polyline") >= 4);  // the metric, its floor, precision, recall
    QVERIFY(el.value("circle") >= 6);    // a marker per value (and legend markers)
    QVERIFY(s->export_png(png));
    check_png(png, 900, 800);
    QVERIFY(!s->export_png(tmp_.filePath("no/such/dir/sweep.png")));
    // What produced the numbers is under the charts; the selection ring is not exported; size, resolution, PDF.
    const QString caption = s->export_caption();
    QVERIFY2(caption.contains("aux ") && caption.contains("steps") && caption.contains("seed") &&
                 caption.contains("samples per") && caption.contains("for σ in"), qPrintable(caption));
    QFile svg_file(svg);
    QVERIFY(svg_file.open(QIODevice::ReadOnly));
    QVERIFY(QString::fromUtf8(svg_file.readAll()).contains(caption.section(' ', 0, 1).toHtmlEscaped()));
    const ChartExportOptions saved = s->chart_export();
    const auto restore = qScopeGuard([s, saved] { s->set_chart_export(saved); });  // test-mode settings persist
    ChartExportOptions o = saved;
    o.width = 900, o.height_each = 400, o.dpi = 96;
    s->set_chart_export(o);
    QVERIFY(s->export_png(png));
    const QImage ringed(png);
    c->set_highlight(std::numeric_limits<double>::quiet_NaN());
    QVERIFY(s->export_png(png));
    QCOMPARE(QImage(png), ringed);
    QVERIFY(ringed.height() > 800);  // the caption
    o.dpi = 192;
    s->set_chart_export(o);
    QVERIFY(s->export_png(png));
    const QImage hi(png);
    QCOMPARE(hi.width(), 1800);
    QCOMPARE(hi.height(), 2 * ringed.height());
    QVERIFY(std::abs(hi.dotsPerMeterX() - 7559) <= 1);
    const QString pdf = tmp_.filePath("sweep.pdf");
    QVERIFY(s->export_pdf(pdf));
    QCOMPARE(head_of(pdf, 5), QByteArray("%PDF-"));
    QFile pdf_file(pdf);
    QVERIFY(pdf_file.open(QIODevice::ReadOnly));
    const QByteArray pdf_bytes = pdf_file.readAll();
    QVERIFY(pdf_bytes.contains("/MediaBox [0 0 675"));  // 900 CSS px = 675 pt wide
    // Too many pixels: refused with a message, nothing written.
    o.width = 4000, o.height_each = 3000, o.dpi = 600;
    s->set_chart_export(o);
    const QString huge = tmp_.filePath("huge.png");
    QVERIFY(!s->export_png(huge));
    QVERIFY(!QFileInfo::exists(huge));
  }

  void sweepCancels() {
    SweepView* s = w_->sweep_view();
    SweepPlan p = s->plan();
    p.omegas = {0, 0.5, 1, 1.5, 2, 2.5, 3, 3.5, 4, 5};
    p.n = 1500;
    p.steps = 32;
    s->set_plan(p);
    QSignalSpy done(s, &SweepView::finished);
    QSignalSpy rows(s, &SweepView::row_added);
    s->run_button()->click();
    QTRY_VERIFY_WITH_TIMEOUT(rows.count() >= 1, 120000);
    // The finished sweep before this one is overlaid, dashed, with its settings in the legend.
    AnalysisChart* dist = s->distance_chart();
    int earlier = -1;
    for (int i = 0; i < dist->series_count(); ++i)
      if (dist->series(i).name.startsWith("earlier: ")) earlier = i;
    QVERIFY(earlier >= 0);
    QVERIFY(dist->series(earlier).dashed);
    QVERIFY(dist->series(earlier).name.contains("8 steps"));
    QCOMPARE(dist->point_count(earlier), 2);
    s->cancel_button()->click();
    QTRY_VERIFY_WITH_TIMEOUT(done.count() == 1, 60000);
    QCOMPARE(s->job()->state(), engine::JobState::Cancelled);
    QVERIFY(s->result().rows.size() < 10);
    QCOMPARE(s->strip()->count(), static_cast<int>(s->result().rows.size()));
    QVERIFY(s->run_button()->isEnabled());
  }

  void loopGaussianRuns() {
    w_->tabs()->setCurrentWidget(w_->loop_view());
    LoopView* l = w_->loop_view();
    LoopPlan p;
    p.family = "gaussian";
    p.kind = loops::LoopKind::FullySynthetic;
    p.generations = 12;
    p.runs = 50;
    p.n_real = 20;
    p.n_synth = 20;
    l->set_plan(p);
    QSignalSpy done(l, &LoopView::finished);
    l->run_button()->click();
    QTRY_VERIFY_WITH_TIMEOUT(done.count() == 1, 60000);
    QCOMPARE(l->job()->state(), engine::JobState::Finished);
    QCOMPARE(l->row_count(), 12);
    QCOMPARE(l->table()->rowCount(), 12);
    const auto& o = l->outcome();
    QCOMPARE(o.generations.size(), size_t(12));
    QCOMPARE(o.ratio(0), 1.0);
    // Fully synthetic with 20 samples per fit: the fits drift away from p_r.
    QVERIFY(o.generations.back().w2_mean > o.generations.front().w2_mean);
    const int last = l->distance_chart()->series_count() - 1;
    QCOMPARE(l->distance_chart()->point_count(last), 12);
    QCOMPARE(l->ratio_chart()->series(last).points.front().y(), 1.0);
    // The ratio carries its 95 % interval over the 50 runs: a band that holds the value, in the chart and the table.
    const ChartSeries& rs = l->ratio_chart()->series(last);
    QVERIFY(rs.band);
    QVERIFY(rs.lower.back() < rs.points.back().y() && rs.points.back().y() < rs.upper.back());
    QVERIFY(l->ratio_chart()->title().contains("lower is better"));
    QVERIFY2(l->table()->item(11, 2)->text().contains(" ["), qPrintable(l->table()->item(11, 2)->text()));
    // The mean W2 and tr Σ carry theirs too, in the table and the CSV.
    const QString pm = QString::fromUtf8("\u2009±\u2009");
    QVERIFY2(l->table()->item(11, 1)->text().contains(pm), qPrintable(l->table()->item(11, 1)->text()));
    QVERIFY2(l->table()->item(11, 3)->text().contains(pm), qPrintable(l->table()->item(11, 3)->text()));
    QVERIFY(o.generations.back().trace_lo < o.generations.back().trace_mean &&
            o.generations.back().trace_mean < o.generations.back().trace_hi);
    QVERIFY(QString::fromStdString(o.to_csv()).section('\n', 0, 0).endsWith(",trace_lo,trace_hi,w2_base_lo,w2_base_hi,w2_median_lo,w2_median_hi"));
    // The median W2 in the tooltip with its order-statistics interval (50 runs).
    const LoopGeneration& lg = o.generations.back();
    QVERIFY(lg.w2_median_lo <= lg.w2_median && lg.w2_median <= lg.w2_median_hi && lg.w2_median_lo < lg.w2_median_hi);
    QVERIFY2(l->table()->item(11, 1)->toolTip().contains("95 % order-statistics interval"),
             qPrintable(l->table()->item(11, 1)->toolTip()));
  }

  // The loop verdict: a t interval over runs, and a comparison with the previous run only when it is comparable.
  void loopVerdictComparesRunsBeyondTheirIntervals() {
    auto outcome = [](double mean, double sd) {
      LoopOutcome o;
      o.metric = "w2_gaussian_fit";
      for (int g = 1; g <= 3; ++g) {
        LoopGeneration r;
        r.generation = g;
        r.w2_mean = g == 3 ? mean : 0.16;
        r.w2_std = sd;
        o.generations.push_back(r);
      }
      return o;
    };
    LoopPlan standard, sims_plan;
    standard.kind = sims_plan.kind = loops::LoopKind::Augment;
    standard.runs = sims_plan.runs = 6;
    sims_plan.sims = true;
    sims_plan.omega = 1;
    bool better = true;
    // Alone: the value with its interval (t_{0.975, 5} = 2.571: 0.05 / sqrt(6) * 2.571 = 0.0525).
    QString v = loop_verdict(outcome(0.2, 0.05), standard, nullptr, standard, &better);
    QVERIFY2(v.contains("0.200 ± 0.052") && v.contains("95 % t intervals over 6 runs"), qPrintable(v));
    QVERIFY(!better);
    // SIMS ends at 0.18, standard at 0.27: beyond the intervals.
    const LoopOutcome before = outcome(0.27, 0.04), close = outcome(0.18, 0.05);
    v = loop_verdict(close, sims_plan, &before, standard, &better);
    QVERIFY2(better && v.contains("SIMS ω=1 is closer to p_r by 0.09"), qPrintable(v));
    // A difference inside the noise says so.
    const LoopOutcome near = outcome(0.26, 0.05);
    v = loop_verdict(near, sims_plan, &before, standard, &better);
    QVERIFY2(!better && v.contains("no significant difference"), qPrintable(v));
    // Another loop kind is not compared.
    LoopPlan fully = standard;
    fully.kind = loops::LoopKind::FullySynthetic;
    v = loop_verdict(close, sims_plan, &before, fully, &better);
    QVERIFY2(!better && !v.contains("standard"), qPrintable(v));
  }

  void loopDiffusionRowsOverlayAndExports() {
    LoopView* l = w_->loop_view();
    LoopPlan p;
    p.family = "diffusion2d";
    p.generations = 2;
    p.runs = 3;  // two runs often leave the ratio's Fieller set unbounded (no interval)
    p.n_real = 200;
    p.n_synth = 200;
    p.base_epochs = 5;
    p.width = 32;
    p.depth = 2;
    l->set_plan(p);
    l->overlay_box()->setChecked(true);
    QSignalSpy done(l, &LoopView::finished);
    QSignalSpy gens(l, &LoopView::generation_added);
    l->run_button()->click();
    QTRY_VERIFY_WITH_TIMEOUT(done.count() == 1, 120000);
    QCOMPARE(l->job()->state(), engine::JobState::Finished);
    QCOMPARE(gens.count(), 2);
    QCOMPARE(l->row_count(), 2);
    QVERIFY(l->verdict_label()->text().contains("At generation 2"));
    for (int i = 0; i < 2; ++i) {
      auto* strip = l->row(i)->findChild<SampleStrip*>();
      QVERIFY(strip);
      QCOMPARE(strip->count(), 3);  // the saved runs' point clouds
    }
    const auto& o = l->outcome();
    QCOMPARE(o.metric, std::string("w2_gaussian_fit"));
    for (const auto& g : o.generations) {
      QVERIFY(std::isfinite(g.w2_mean) && g.w2_mean > 0);
      QVERIFY(std::isfinite(g.w2_std));
      QVERIFY(g.trace_lo < g.trace_mean && g.trace_mean < g.trace_hi);  // from the row the core streams
      QCOMPARE(g.saved_runs, 3);
      QCOMPARE(g.samples.count(), int64_t{3 * 200});  // n_eval follows n_real
    }
    // The previous (gaussian) run stays on the charts, dashed; the new one has a band (its 95 % t interval).
    AnalysisChart* d = l->distance_chart();
    QCOMPARE(d->series_count(), 2);
    QVERIFY(d->series(0).dashed);
    QVERIFY(!d->series(0).band);  // the Gaussian family keeps no per-run spread of its distance: no band to draw
    QCOMPARE(d->point_count(0), 12);
    QVERIFY(d->series(1).band);
    QCOMPARE(d->point_count(1), 2);
    QVERIFY(d->series(1).upper[1] > d->series(1).lower[1]);
    // The ratio too, from the generation's per-run distances (paired with generation 1's).
    const ChartSeries& rs = l->ratio_chart()->series(1);
    QVERIFY(rs.band);
    QVERIFY(o.generations[1].ratio_hi > o.generations[1].ratio_lo);
    QCOMPARE(rs.upper[1], o.generations[1].ratio_hi);

    const QString csv = tmp_.filePath("loop.csv"), svg = tmp_.filePath("loop.svg"), png = tmp_.filePath("loop.png");
    QVERIFY(l->export_csv(csv));
    const QStringList lines = csv_lines(csv);
    QCOMPARE(lines.size(), 3);
    QVERIFY(lines[0].startsWith("generation,w2_mean,w2_median,w2_std,ratio"));
    QVERIFY(lines[1].startsWith("1,"));
    QCOMPARE(lines[1].split(',').at(4), QString("1"));  // ratio of generation 1
    QVERIFY(lines[0].startsWith("generation,w2_mean,w2_median,w2_std,ratio,ratio_lo,ratio_hi,"));
    const QStringList second = lines[2].split(',');
    QVERIFY(second.at(5).toDouble() < second.at(4).toDouble() && second.at(4).toDouble() < second.at(6).toDouble());
    QVERIFY(l->export_svg(svg));
    QString err;
    const auto el = svg_elements(svg, &err);
    QCOMPARE(err, QString());
    QVERIFY(el.value("polygon") >= 1);   // the std band
    QVERIFY(el.value("polyline") >= 4);  // two runs on two charts
    QVERIFY(QString::fromUtf8(head_of(svg, 1 << 20)).contains("stroke-dasharray"));  // the overlay
    QVERIFY(l->export_png(png));
    check_png(png, 900, 800);
    const QString caption = l->export_caption();
    QVERIFY2(caption.contains("MLPs") && caption.contains("generations") && caption.contains("seed"), qPrintable(caption));
    QVERIFY(QString::fromUtf8(head_of(svg, 1 << 20)).contains(caption.section(' ', 0, 2).toHtmlEscaped()));
    QVERIFY2(caption.contains("Dashed (previous): Gaussian loop"), qPrintable(caption));
    // Run again: both earlier runs stay, dashed, the older one named so (up to three are kept).
    l->run_button()->click();
    QTRY_VERIFY_WITH_TIMEOUT(done.count() == 2, 120000);
    QCOMPARE(d->series_count(), 3);
    QVERIFY(d->series(0).dashed && d->series(1).dashed && !d->series(2).dashed);
    QVERIFY2(d->series(0).name.endsWith("(2 runs ago)"), qPrintable(d->series(0).name));
    QVERIFY2(d->series(1).name.endsWith("(previous)"), qPrintable(d->series(1).name));
    QVERIFY(l->export_caption().contains("Dashed (2 runs ago): Gaussian loop"));
    QVERIFY(l->export_caption().contains("Dashed (previous): 2D diffusion loop"));
    // The previous run keeps its 95 % band on both charts, to read a gap against both intervals; older runs and the
    // Gaussian family's distances (no per-run spread kept) are lines only.
    QVERIFY(d->series(1).band && d->series(1).upper[1] > d->series(1).lower[1]);
    const ChartSeries& prev = l->ratio_chart()->series(1);
    QVERIFY(prev.band && prev.dashed && prev.upper[1] > prev.lower[1]);
  }

  void loopCancels() {
    LoopView* l = w_->loop_view();
    LoopPlan p;
    p.generations = 50;
    p.runs = 4;
    p.n_real = 500;
    p.base_epochs = 400;
    l->set_plan(p);
    QSignalSpy done(l, &LoopView::finished);
    l->run_button()->click();
    QTRY_VERIFY_WITH_TIMEOUT(l->job() && l->job()->last_progress().fraction > 0, 60000);
    l->cancel_button()->click();
    QTRY_VERIFY_WITH_TIMEOUT(done.count() == 1, 60000);
    QCOMPARE(l->job()->state(), engine::JobState::Cancelled);
    QVERIFY(l->row_count() < 50);
    QVERIFY(l->run_button()->isEnabled());
    w_->tabs()->setCurrentIndex(0);
  }

  // The mixture family (MAD App. C): modes and recall per generation with their intervals, the fits drawn, the
  // verdict on lost modes; a W2 run is not overlaid on its charts (other metrics).
  void loopMixtureFamily() {
    w_->tabs()->setCurrentWidget(w_->loop_view());
    LoopView* l = w_->loop_view();
    LoopPlan p;
    p.family = "mixture";
    p.kind = loops::LoopKind::FullySynthetic;
    p.grid = 3;
    p.mode_std = 0.1;
    p.generations = 20;
    p.runs = 6;
    p.n_real = 60;
    p.n_synth = 30;
    l->set_plan(p);
    QCOMPARE(l->plan().family, std::string("mixture"));
    QCOMPARE(l->plan().grid, int64_t(3));
    QVERIFY(l->findChild<QSpinBox*>("loopGrid")->isVisible());
    QVERIFY(!l->findChild<QComboBox*>("loopModel")->isVisible());
    QVERIFY(!l->findChild<QComboBox*>("loopPool")->isVisible());
    QVERIFY(l->findChild<QDoubleSpinBox*>("loopBias")->isVisible());
    QSignalSpy done(l, &LoopView::finished);
    l->run_button()->click();
    QTRY_VERIFY_WITH_TIMEOUT(done.count() == 1, 60000);
    QCOMPARE(l->job()->state(), engine::JobState::Finished);
    const auto& o = l->outcome();
    QVERIFY(o.is_mixture());
    QCOMPARE(o.generations.size(), size_t(20));
    QCOMPARE(l->table()->rowCount(), 20);
    // Generation 1 is fitted to the real set: all 9 well-separated modes; 30 synthetic points per generation lose some.
    const metrics::Estimate first = o.generations.front().mixture.at("modes"), last = o.generations.back().mixture.at("modes");
    QCOMPARE(first.value, 9.0);
    QVERIFY2(last.value < first.value, qPrintable(QString::number(last.value)));
    QVERIFY(last.has_interval() && last.lo <= last.value && last.value <= last.hi);
    QVERIFY(o.generations.front().mixture.at("recall").value > o.generations.back().mixture.at("recall").value);
    // Charts: no overlay of the earlier W2 runs; modes with a band, recall on the second chart.
    AnalysisChart* d = l->distance_chart();
    QCOMPARE(d->series_count(), 1);
    QVERIFY(d->series(0).band);
    QCOMPARE(d->point_count(0), 20);
    QVERIFY(d->title().contains("higher is better"));
    QCOMPARE(l->ratio_chart()->series(0).points.back().y(), o.generations.back().mixture.at("recall").value);
    // Run 1's fit drawn at generations 1, 2 (= G/10) and 20.
    int drawn = 0;
    for (int i = 0; i < l->row_count(); ++i) drawn += l->row(i)->findChild<SampleStrip*>() != nullptr;
    QCOMPARE(drawn, 3);
    const QString v = l->verdict_label()->text();
    QVERIFY2(v.contains("of 9 real modes covered") && v.contains("higher is better"), qPrintable(v));
    const QString csv = tmp_.filePath("mixture.csv");
    QVERIFY(l->export_csv(csv));
    const QStringList lines = csv_lines(csv);
    QCOMPARE(lines.size(), 21);
    QVERIFY2(lines[0].startsWith("generation,modes_mean,modes_lo,modes_hi,recall_mean"), qPrintable(lines[0]));
    QCOMPARE(lines[1].split(',').at(1), QString("9"));
    if (const QString dir = qEnvironmentVariable("SIMS_GUI_SHOTS"); !dir.isEmpty()) {
      const QSize before = w_->size();
      for (const QSize sz : {QSize(1280, 720), QSize(1600, 1000)}) {
        w_->resize(sz);
        QTest::qWait(300);
        w_->grab().save(QString("%1/loops-mixture-%2x%3.png").arg(dir).arg(sz.width()).arg(sz.height()));
      }
      w_->resize(before);
    }
    // A long mixture run shows each generation as it ends (all runs advance together); a cancel keeps them.
    std::vector<double> recall_before;  // the finished run's (o is the view's current outcome, replaced below)
    for (const auto& g : o.generations) recall_before.push_back(g.mixture.at("recall").value);
    LoopPlan longer = p;
    longer.generations = 1000;  // the form's maximum
    l->set_plan(longer);
    // Cancel as the third generation is shown, not when a wait next looks: the job's generations queue up on the UI
    // thread (about 10 ms each here), and a loaded machine (CI, tests side by side) once handled the whole queue of
    // all 1000 before the wait looked again, so the click came after the job had finished and did nothing.
    const QMetaObject::Connection at_third = connect(l, &LoopView::generation_added, l, [l](int g) {
      if (g == 3) l->cancel_button()->click();
    });
    {
      const auto undo = qScopeGuard([&] { disconnect(at_third); });  // also when the wait fails: later runs go on
      l->run_button()->click();
      QTRY_VERIFY_WITH_TIMEOUT(done.count() == 2, 60000);
    }
    QCOMPARE(l->job()->state(), engine::JobState::Cancelled);
    const size_t shown = l->outcome().generations.size();
    QVERIFY(shown >= 3 && shown < 1000);
    // The current run's series is the last one (the finished run before it is overlaid, dashed, first).
    QCOMPARE(l->distance_chart()->point_count(l->distance_chart()->series_count() - 1), static_cast<int>(shown));
    for (size_t g = 0; g < 3; ++g) QCOMPARE(l->outcome().generations[g].mixture.at("recall").value, recall_before[g]);
    // The DDPM model of the 2D loop: its own settings in the summary, depth read as its residual blocks.
    LoopPlan q;
    q.model = "ddpm";
    q.depth = 4;
    l->set_plan(q);
    QVERIFY(l->findChild<QComboBox*>("loopModel")->isVisible());
    QCOMPARE(l->plan().model, std::string("ddpm"));
    const std::string sum = l->plan().summary();
    QVERIFY2(sum.find("DDPM") != std::string::npos && sum.find("4 residual blocks") != std::string::npos, sum.c_str());
    QCOMPARE(l->plan().training_label(), std::string("DDPM standard"));
    q.generations = 2;
    q.runs = 2;
    q.n_real = q.n_synth = 200;
    q.base_epochs = 20;
    l->set_plan(q);
    l->run_button()->click();
    QTRY_VERIFY_WITH_TIMEOUT(done.count() == 3, 120000);
    QCOMPARE(l->job()->state(), engine::JobState::Finished);
    QCOMPARE(l->outcome().generations.size(), size_t(2));
    QVERIFY(!l->outcome().is_mixture());
    for (const auto& g : l->outcome().generations) QVERIFY(std::isfinite(g.w2_mean) && g.w2_mean > 0 && g.saved_runs == 2);
    // The DDPM model samples with its own sampler (an overlaid EDM run, after "Dashed", names Heun).
    QVERIFY(!l->export_caption().section(" Dashed", 0, 0).contains("Sampler: heun"));
    // The run just before was the mixture run, which W2 charts do not overlay: the caption must name the dashed
    // runs by the same age as the legend ("2 runs ago", not "previous").
    const QString cap = l->export_caption();
    QVERIFY2(!cap.contains("Dashed (previous)"), qPrintable(cap));
    int dashed = 0;
    for (int i = 0; i < l->distance_chart()->series_count(); ++i) {
      const ChartSeries& s = l->distance_chart()->series(i);
      if (!s.dashed) continue;
      ++dashed;
      const QString age = s.name.section('(', -1).chopped(1);
      QVERIFY2(cap.contains("Dashed (" + age + ")"), qPrintable(s.name + " | " + cap));
    }
    QCOMPARE(cap.count("Dashed ("), dashed);
    QVERIFY(dashed >= 1);
    // Warm-started generations: the check box reaches the plan, its words and the job (generation 1 is the
    // same loop, generation 2 starts from generation 1's model instead of random weights).
    const std::vector<LoopGeneration> scratch = l->outcome().generations;
    auto* warm = l->findChild<QCheckBox*>("loopWarm");
    QVERIFY(warm && warm->isVisible() && !warm->isChecked());
    warm->click();
    QVERIFY(l->plan().warm);
    QCOMPARE(l->plan().training_label(), std::string("DDPM standard warm"));
    QVERIFY(l->plan().summary().find("on from the previous generation's model") != std::string::npos);
    l->run_button()->click();
    QTRY_VERIFY_WITH_TIMEOUT(done.count() == 4, 120000);
    QCOMPARE(l->job()->state(), engine::JobState::Finished);
    QCOMPARE(l->outcome().generations.size(), size_t(2));
    QCOMPARE(l->outcome().generations[0].w2_mean, scratch[0].w2_mean);
    QVERIFY(l->outcome().generations[1].w2_mean != scratch[1].w2_mean);
    w_->tabs()->setCurrentIndex(0);
  }

  // [SECTION] Atlas tab ------------------------------------------------------------------------

  void atlasRunsAndACellRunsItsLoop() {
    w_->tabs()->setCurrentWidget(w_->atlas_view());
    AtlasView* a = w_->atlas_view();
    loops::AtlasConfig c;
    c.n_real = {10, 40};
    c.n_synth = {0, 40};
    c.lambdas = {0.5, 1.0};
    c.memory = {1};
    c.generations = 8, c.tail = 4, c.runs = 60, c.seed = 3;
    a->set_config(c);
    QCOMPARE(a->config().n_synth, (std::vector<int64_t>{0, 40}));
    QSignalSpy done(a, &AtlasView::finished);
    a->run_button()->click();
    QTRY_VERIFY_WITH_TIMEOUT(done.count() == 1, 60000);
    QCOMPARE(a->job()->state(), engine::JobState::Finished);
    QVERIFY(a->result().has_value());
    QCOMPARE(a->result()->cells.size(), size_t(8));
    QVERIFY(!a->figure()->image().isNull());
    // The header counts every cell with synthetic data once (admissible, within the noise, not admissible), as rich
    // text: its "<" is no tag, its bold is not shown as "<b>".
    {
      const QLabel* hint = a->findChild<QLabel*>("atlasHint");
      QVERIFY(hint && hint->textFormat() == Qt::RichText);
      const QString text = hint->text();
      const QRegularExpression counts("(\\d+) of (\\d+) cells .* (\\d+) within the noise .* (\\d+) not admissible \\(n_e &lt; n_r");
      const QRegularExpressionMatch m = counts.match(text);
      QVERIFY2(m.hasMatch(), qPrintable(text));
      QCOMPARE(m.captured(1).toInt() + m.captured(3).toInt() + m.captured(4).toInt(), m.captured(2).toInt());
      QCOMPARE(m.captured(2).toInt(), 4);  // 8 cells, 4 without synthetic data (n_s = 0)
    }
    // The figure's cell under the pointer is the one clicked: cell (lambda 1, n_r 40, n_s 40) is index 7.
    const loops::AtlasResult& r = *a->result();
    const int k = loops::atlas_cell_at(r, 70 + 2 * 58 + 36 + 58 + 29, 92 + 40 + 15);  // panel 2, row 2, column 2
    QCOMPARE(k, 7);
    // The pane shows the layout that fits largest: the two heat maps side by side in a wide pane, stacked in a
    // narrow one (where one row would be shrunk), and the pointer finds the cell in the layout shown.
    FittedImage* fig = a->figure();
    fig->resize(2000, 400);
    QCOMPARE(a->figure_columns(), 2);
    QCOMPARE(fig->scale(), 1.0);
    const QImage wide = fig->image();
    fig->resize(300, 900);
    QCOMPARE(a->figure_columns(), 1);
    QVERIFY(fig->image().height() > wide.height());
    QVERIFY(fig->scale() > double(300) / wide.width());
    QCOMPARE(loops::atlas_cell_at(r, 70 + 58 + 29, 92 + 40 + 15, 1), 3);          // first heat map, row 2, column 2
    QCOMPARE(loops::atlas_cell_at(r, 70 + 58 + 29, 92 + 150 + 40 + 15, 1), 7);  // the second, one row step (2 cells + 70 px) below
    // Clicking it runs that Gaussian loop in the Loops tab.
    QSignalSpy loop_done(w_->loop_view(), &LoopView::finished);
    QVERIFY(a->click_cell(static_cast<size_t>(k)));
    QCOMPARE(w_->tabs()->currentWidget(), static_cast<QWidget*>(w_->loop_view()));
    const LoopPlan p = w_->loop_view()->plan();
    QCOMPARE(p.family, std::string("gaussian"));
    QCOMPARE(p.n_real, int64_t(40));
    QCOMPARE(p.n_synth, int64_t(40));
    QCOMPARE(p.bias, 1.0);
    QCOMPARE(p.generations, int64_t(8));
    QTRY_VERIFY_WITH_TIMEOUT(loop_done.count() == 1, 60000);
    QCOMPARE(w_->loop_view()->outcome().generations.size(), size_t(8));
    QVERIFY(w_->loop_view()->outcome().generations[7].w2_std > 0);  // the spread over runs, for the 95 % CI column
    // For a person to look at: SIMS_GUI_SHOTS=DIR saves the Loops tab after the click at both window sizes.
    if (const QString dir = qEnvironmentVariable("SIMS_GUI_SHOTS"); !dir.isEmpty()) {
      const QSize before = w_->size();
      for (const QSize sz : {QSize(1280, 720), QSize(1600, 1000)}) {
        w_->resize(sz);
        QTest::qWait(300);
        w_->grab().save(QString("%1/atlas-click-loops-%2x%3.png").arg(dir).arg(sz.width()).arg(sz.height()));
      }
      w_->resize(before);
    }
    // PNG and CSV export; SVG is refused with a message.
    QVERIFY(a->export_png(tmp_.filePath("atlas.png")));
    QVERIFY(a->export_csv(tmp_.filePath("atlas.csv")));
    QVERIFY(!a->export_svg(tmp_.filePath("atlas.svg")));
    QVERIFY(!QFileInfo::exists(tmp_.filePath("atlas.svg")));
    // A bad list is one clear message, nothing starts.
    a->findChild<QLineEdit*>("atlasNReal")->setText("10,,20");
    const int errors = w_->messages()->error_count();
    a->run_button()->click();
    QCOMPARE(w_->messages()->error_count(), errors + 1);
    a->set_config(c);
  }

  // [SECTION] Shift tab ------------------------------------------------------------------------

  void shiftLoadsResults() {
    w_->tabs()->setCurrentWidget(w_->shift_view());
    ShiftView* v = w_->shift_view();
    // First shown without a run: the committed Fig. 6 miniature, labelled as an example.
    if (QFileInfo::exists(shift_example_folder() + "/results.json")) {
      QVERIFY(v->has_results());
      QVERIFY(v->shown().example);
      QVERIFY(v->source_label()->text().contains("docs/repro/shift"));
      // Its rows kept their samples' groups: the summary gives the share's change from ω = 0, paired.
      auto* sum = v->findChild<QLabel*>("shiftSummary");
      QVERIFY(sum);
      QVERIFY2(sum->text().contains("points [") && sum->text().contains("from ω = 0 (95") && sum->text().contains(", paired)"),
               qPrintable(sum->text()));
      // And what the move does to FD, against the real faces and against the target mix, both paired (the summary
      // keeps "95" and "%" together with a no-break space).
      QVERIFY2(sum->text().contains("change there: ") && sum->text().contains(" vs target mix change there: ") &&
                   sum->text().count(", paired (95" + QString(QChar(0x00A0)) + "%; lower is better)") == 2,
               qPrintable(sum->text()));
    }
    // A results.json in the real format: what run_shift writes (ShiftResult::to_json plus the config).
    const QString dir = tmp_.filePath("shift-loaded");
    QVERIFY(QDir().mkpath(dir));
    loops::ShiftResult r;
    r.attribute = "smile";
    r.target = 0.6;
    r.features = "stand-in";
    r.aux1 = 4, r.aux0 = 6, r.n_pool = 30, r.pool1 = 12;
    for (double w : {2.0, -1.0, 0.0, 1.0}) {  // not in ω order: the view sorts
      loops::ShiftRow row;
      row.omega = w;
      row.share = 0.3 + 0.1 * w;
      row.n1 = static_cast<int64_t>(std::lround(100 * row.share));
      row.n0 = 100 - row.n1;
      row.fd = 10 + (w - 1) * (w - 1);
      row.fd_target = 20 - 3 * w;
      row.fd1 = w < 0 ? std::numeric_limits<double>::quiet_NaN() : 12 + w;  // too few images of group 1
      row.fd0 = 9 + w;
      row.precision = 0.9, row.recall = 0.8;
      row.nfe = w == 0 ? 35 : 70;
      if (w != 2.0) row.ci["fd"] = {row.fd - 1.5, row.fd + 2.0};  // ω = 2: a row of an older folder, no interval
      r.rows.push_back(row);
    }
    nlohmann::json j = r.to_json();
    loops::ShiftConfig cfg;
    cfg.attribute = "smile";
    cfg.target = 0.6;
    j["config"] = cfg.to_json();
    j["classifier"] = "stand-in";
    QFile f(dir + "/results.json");
    QVERIFY(f.open(QIODevice::WriteOnly));
    f.write(QByteArray::fromStdString(j.dump(2)));
    f.close();
    QSignalSpy shown(v, &ShiftView::results_shown);
    QVERIFY(v->load_results(dir));
    QCOMPARE(shown.count(), 1);
    QCOMPARE(shown.at(0).at(0).toInt(), 4);
    QVERIFY(!v->shown().example);
    QVERIFY(v->source_label()->text().contains("Loaded"));
    // A copy of results (no run.json): the form shows the settings they ran with, the models stay the form's.
    QCOMPARE(v->findChild<QComboBox*>("shiftAttribute")->currentText(), QString("smile"));
    QCOMPARE(v->findChild<QDoubleSpinBox*>("shiftTarget")->value(), 0.6);
    QVERIFY(!v->findChild<QLineEdit*>("shiftBase")->text().isEmpty());
    // Share chart: the generated shares in ω order, the target dashed, the base (ω = 0) ringed.
    AnalysisChart* s = v->share_chart();
    QCOMPARE(s->point_count(0), 4);
    QCOMPARE(s->series(0).points[0], QPointF(-1, 0.2));
    QCOMPARE(s->series(0).points[3], QPointF(2, 0.5));
    QVERIFY(s->title().contains("smile"));
    QCOMPARE(s->series(1).name, QString("target 60 %"));
    QVERIFY(s->series(1).dashed);
    QCOMPARE(s->series(1).points[0].y(), 0.6);
    QCOMPARE(s->series(2).points[0].y(), 0.4);  // the auxiliary set's share, 4 of 10
    QCOMPARE(s->highlight(), 0.0);
    // FD chart: overall, at the target mix, per group; a missing value stays a gap.
    AnalysisChart* fd = v->fd_chart();
    QCOMPARE(fd->series_count(), 4);
    for (int k = 0; k < 4; ++k) QCOMPARE(fd->point_count(k), 4);
    QVERIFY(fd->title().contains("FD_stand-in"));
    QCOMPARE(fd->series(0).points[2], QPointF(1, 10));
    QVERIFY(std::isnan(fd->series(2).points[0].y()));
    // Error bars: FD's bootstrap interval where the row has one, the share's Wilson interval on every row.
    QCOMPARE(fd->series(0).lower[2], 8.5);
    QCOMPARE(fd->series(0).upper[2], 12.0);
    QVERIFY(std::isnan(fd->series(0).upper[3]));
    QVERIFY(s->series(0).lower[1] < 0.3 && s->series(0).upper[1] > 0.3);
    QCOMPARE(v->table()->item(2, 2)->text(), QString("10.0\u2009±\u20092.0"));  // to its interval's precision
    QCOMPARE(v->table()->item(3, 2)->text(), QString("11"));                     // an older row: no interval
    QCOMPARE(v->table()->rowCount(), 4);
    QVERIFY(v->table()->item(1, 0)->text().startsWith("0"));
    // The share with its Wilson interval (30 of 100), the counts in its tooltip.
    QCOMPARE(v->table()->item(1, 1)->text(), QString("30.0 [21.9, 39.6] %"));
    QVERIFY(v->table()->item(1, 1)->toolTip().startsWith("30 of 100 samples in smile = 1"));

    // Exports: results.csv's columns, charts as PNG and SVG.
    const QString csv = tmp_.filePath("shift.csv"), svg = tmp_.filePath("shift.svg"), png = tmp_.filePath("shift.png");
    QVERIFY(v->export_csv(csv));
    const QStringList lines = csv_lines(csv);
    QCOMPARE(lines.size(), 5);
    QVERIFY(lines[0].startsWith("omega,share,n_attr1,n_attr0,fd,fd_target,fd_attr1,fd_attr0"));
    QVERIFY(lines[1].startsWith("-1,0.2,20,80,"));
    QVERIFY(v->export_svg(svg));
    QString err;
    const auto el = svg_elements(svg, &err);
    QCOMPARE(err, QString());
    QVERIFY(el.value("polyline") >= 6);
    QVERIFY(v->export_png(png));
    check_png(png, 900, 800);
    const QString caption = v->export_caption();
    QVERIFY2(caption.contains("base ") && caption.contains("seed") && caption.contains("samples per") &&
                 caption.contains("target 60.0 % of smile = 1"), qPrintable(caption));
  }

  void shiftBadFolderIsAMessage() {
    ShiftView* v = w_->shift_view();
    const int errors = w_->messages()->error_count();
    QVERIFY(!v->load_results(tmp_.filePath("no/such/folder")));
    QVERIFY(w_->messages()->last_error().contains("no such folder"));
    const QString empty = tmp_.filePath("shift-empty");
    QVERIFY(QDir().mkpath(empty));
    QVERIFY(!v->load_results(empty));
    QVERIFY(w_->messages()->last_error().contains("no results.json"));
    auto write = [](const QString& dir, const QByteArray& text) {
      QDir().mkpath(dir);
      QFile f(dir + "/results.json");
      return f.open(QIODevice::WriteOnly) && f.write(text) == text.size();
    };
    QVERIFY(write(tmp_.filePath("shift-garbage"), "{not json"));
    QVERIFY(!v->load_results(tmp_.filePath("shift-garbage")));
    QVERIFY(w_->messages()->last_error().contains("not valid JSON"));
    QVERIFY(write(tmp_.filePath("shift-sweep"), R"({"omega": [0, 1], "fd": [3, 2]})"));
    QVERIFY(!v->load_results(tmp_.filePath("shift-sweep")));
    QVERIFY(w_->messages()->last_error().contains("not the results of a sims shift run"));
    QVERIFY(write(tmp_.filePath("shift-norows"), R"({"attribute": "group", "rows": []})"));
    QVERIFY(!v->load_results(tmp_.filePath("shift-norows")));
    QVERIFY(w_->messages()->last_error().contains("no rows"));
    QVERIFY(write(tmp_.filePath("shift-badrow"), R"({"rows": [{"omega": 0, "n1": "many"}]})"));
    QVERIFY(!v->load_results(tmp_.filePath("shift-badrow")));
    QCOMPARE(w_->messages()->error_count(), errors + 6);
    // The view still shows what it showed.
    QCOMPARE(v->share_chart()->point_count(0), 4);
    QCOMPARE(v->table()->rowCount(), 4);
  }

  void shiftRunsCancelsAndContinues() {
    ShiftView* v = w_->shift_view();
    loops::ShiftConfig c = v->config();
    QVERIFY(QFileInfo::exists(QString::fromStdString(c.base)));  // the shipped faces U-Net
    // A miniature that runs in seconds: 3 Heun steps, 20 auxiliary images, 32 fine-tuning images.
    c.n_aux = 20;
    c.chunk = 5;
    c.sampler.steps = c.eval_sampler.steps = 3;
    c.finetune.budget = 32;
    c.finetune.batch = 16;
    c.finetune.lr_rampup = 0;
    c.omegas = {1, 0};
    c.n_eval = 16;
    c.batch = 16;
    c.keep = 4;
    c.n_real = 64;
    v->set_config(c);
    const QString dir = tmp_.filePath("shift-run");
    v->set_run_folder(dir);
    QSignalSpy done(v, &ShiftView::finished);
    v->run_button()->click();
    QVERIFY(!v->run_button()->isEnabled());
    QVERIFY(v->cancel_button()->isEnabled());
    QTRY_VERIFY_WITH_TIMEOUT(v->job() && v->job()->last_progress().fraction > 0, 60000);
    v->cancel_button()->click();
    QTRY_VERIFY_WITH_TIMEOUT(done.count() == 1, 60000);
    QCOMPARE(v->job()->state(), engine::JobState::Cancelled);
    QVERIFY(v->run_button()->isEnabled());
    QVERIFY(v->status_label()->text().contains("Cancelled"));
    QVERIFY(QFileInfo::exists(dir + "/run.json"));  // finished stages stay
    QVERIFY(!QFileInfo::exists(dir + "/results.json"));
    // Running again with the same folder continues and finishes.
    v->run_button()->click();
    QTRY_VERIFY_WITH_TIMEOUT(done.count() == 2, 240000);
    QCOMPARE(v->job()->state(), engine::JobState::Finished);
    QVERIFY(QFileInfo::exists(dir + "/results.json"));
    QCOMPARE(v->share_chart()->point_count(0), 2);
    QCOMPARE(v->table()->rowCount(), 2);
    const auto& rows = v->shown().result.rows;
    QCOMPARE(rows[0].omega, 0.0);  // shown in ω order
    QCOMPARE(rows[0].nfe, 5);      // 3 Heun steps, base only
    QCOMPARE(rows[1].nfe, 10);
    for (const auto& r : rows) {
      QVERIFY(r.share >= 0 && r.share <= 1);
      QCOMPARE(r.n1 + r.n0, int64_t{16});
      QVERIFY(std::isfinite(r.fd) && r.fd > 0);
    }
    w_->tabs()->setCurrentIndex(0);
  }


  // The window fits a 1280 x 720 screen (title bar and task bar aside) on every tab; each tab's side panel
  // shows only there, never needs sideways scrolling; analysis tabs pause live sampling.
  void layoutFitsSmallScreensAndPanelsBelongToTheirTab() {
    QVERIFY(wait_result(0));
    const QStringList panels{"livePanel", "sweepPanel", "loopPanel", "atlasPanel", "shiftPanel"};
    for (int t = 0; t < w_->tabs()->count(); ++t) {
      w_->tabs()->setCurrentIndex(t);
      QCoreApplication::processEvents();
      const QSize m = w_->minimumSizeHint().expandedTo(w_->minimumSize());
      if (m.width() > 1280 || m.height() > 660)
        QFAIL(qPrintable(QString("tab %1: the window's minimum size is %2 x %3").arg(t).arg(m.width()).arg(m.height())));
      for (int p = 0; p < panels.size(); ++p) {
        auto* panel = w_->findChild<QWidget*>(panels[p]);
        QVERIFY2(panel, qPrintable(panels[p]));
        QCOMPARE(panel->isVisible(), p == t);
        auto* scroll = qobject_cast<QScrollArea*>(panel->parentWidget()->parentWidget());
        QVERIFY(scroll);
        if (p == t) QVERIFY2(panel->minimumSizeHint().width() <= scroll->viewport()->width(), qPrintable(panels[p]));
      }
      QCOMPARE(w_->guidance()->isVisible(), t == 0);
      QCOMPARE(w_->live_view()->paused(), t != 0);
    }
    // The Live tab's Stop (and the quality line) sit under its scrolled panel: never scrolled out of sight.
    w_->tabs()->setCurrentIndex(0);
    QCoreApplication::processEvents();
    auto* live_scroll = qobject_cast<QScrollArea*>(w_->findChild<QWidget*>("livePanel")->parentWidget()->parentWidget());
    QVERIFY(live_scroll);
    QVERIFY(!live_scroll->isAncestorOf(w_->guidance()->stop_button()));
    QVERIFY(w_->guidance()->stop_button()->isVisible());
    QVERIFY(live_scroll->parentWidget()->isAncestorOf(w_->guidance()->stop_button()));
    // A change made while an analysis tab is shown is sampled once the Live tab is back.
    w_->tabs()->setCurrentIndex(1);
    const uint64_t before = stamp();
    GuidanceSettings g = w_->guidance()->settings();
    g.omega = g.omega == 1.25 ? 1.5 : 1.25;
    w_->guidance()->set_settings(g);
    w_->request(false);
    QTest::qWait(300);
    QCOMPARE(stamp(), before);
    w_->tabs()->setCurrentIndex(0);
    QVERIFY(wait_result(before));
    QCOMPARE(w_->last_result()->request.guidance.omega, g.omega);
  }

  void chartsSideBySideLineUp() {
    // One title wraps to three lines, the other fits on one: aligned, their plot areas start at one height.
    QWidget frame;
    auto* h = new QHBoxLayout(&frame);
    auto* a = new AnalysisChart("A long title that wraps over several lines in a narrow chart (lower is better)",
                                "x", "y", &frame);
    auto* b = new AnalysisChart("Short", "x", "y", &frame);
    h->addWidget(a);
    h->addWidget(b);
    for (AnalysisChart* c : {a, b}) {
      const int i = c->add_series("s", QColor(Qt::blue));
      c->append(i, 0, 0);
      c->append(i, 1, 1);
    }
    frame.resize(600, 320);
    frame.show();
    QVERIFY(QTest::qWaitForWindowExposed(&frame));
    QCoreApplication::processEvents();
    const auto top = [](AnalysisChart* c) { return c->chart()->plotArea().top(); };
    QVERIFY2(top(a) > top(b) + 10, "the test needs titles of different heights");
    a->align_with(b);
    frame.resize(601, 320);  // a relayout, as a window's resize makes
    QTest::qWait(50);
    QCoreApplication::processEvents();
    QVERIFY2(std::abs(top(a) - top(b)) <= 1, qPrintable(QString("%1 vs %2").arg(top(a)).arg(top(b))));
  }

  void cleanupTestCase() {
    w_->close();
    w_.reset();
  }
};

int main(int argc, char** argv) {
  QStandardPaths::setTestModeEnabled(true);  // QSettings and data paths away from the user's
  if (qEnvironmentVariableIsEmpty("QT_QPA_PLATFORM")) qputenv("QT_QPA_PLATFORM", "offscreen");
  QApplication app(argc, argv);
  QApplication::setOrganizationName("sims-test");
  QApplication::setApplicationName("sims-studio-test");
  StudioTest t;
  return QTest::qExec(&t, argc, argv);
}

#include "test_studio.moc"
