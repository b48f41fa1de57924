#include "common/paths.hpp"
#include "theme.hpp"
#include "train_panel.hpp"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>

#include <QCheckBox>
#include <QChartView>
#include <QComboBox>
#include <QDir>
#include <QFileDialog>
#include <QFormLayout>
#include <QHBoxLayout>
#include <QLabel>
#include <QLineEdit>
#include <QLineSeries>
#include <QProgressBar>
#include <QPushButton>
#include <QSettings>
#include <QSignalBlocker>
#include <QSpinBox>
#include <QStandardPaths>
#include <QValueAxis>
#include <QVBoxLayout>

#include <ATen/ATen.h>

#include "analysis_tab.hpp"
#include "common/error.hpp"
#include "data/toy2d.hpp"
#include "experiment/json_io.hpp"
#include "io/npy.hpp"
#include "message_area.hpp"
#include "training/synth.hpp"
#include "training/trainer.hpp"
#include "common/device.hpp"

namespace sims::ui {

// [SECTION] The job ----------------------------------------------------------------

std::string TrainPlan::base_path() const { return out_dir + "/" + dataset + "-base.ckpt"; }
std::string TrainPlan::aux_path() const { return out_dir + "/" + dataset + "-aux.ckpt"; }

TrainPlan recommended_train_plan(const std::string& dataset) {
  TrainPlan p;
  p.dataset = dataset;
  if (dataset == "gaussian") {
    p.n_data = 1000, p.base_budget = 200000, p.batch = 256, p.lr = 1e-3;
    p.n_synth = 2000, p.aux_budget = 20000;
    p.net_config = sims::asset_path("networks/mlp2d.json");
  } else {
    p.n_data = 5000, p.batch = 512, p.lr = 2e-3, p.n_synth = 20000;
    p.base_budget = dataset == "grid25" ? 3000000 : 1000000;
    p.aux_budget = dataset == "grid25" ? 640000 : 200000;
    p.net_config = sims::asset_path("networks/mlp2d-small.json");
  }
  return p;
}

std::pair<std::string, std::string> run_train_plan(const TrainPlan& plan, engine::JobContext& ctx) {
  std::filesystem::create_directories(plan.out_dir);
  // Stage weights for the overall fraction: images trained, and synthetic
  // sampling at roughly a third of a training image per network evaluation.
  const double w_base = static_cast<double>(plan.base_budget);
  const double w_synth = plan.n_synth * (2.0 * plan.synth_steps - 1) / 3.0;
  const double w_aux = static_cast<double>(plan.aux_budget);
  const double total = w_base + w_synth + w_aux;

  data::Toy2dSpec spec = data::Toy2dSpec::named(plan.dataset);
  at::Tensor data = data::sample_toy2d(spec, plan.n_data, plan.seed);
  const nlohmann::json net_json = experiment::read_json_file(plan.net_config);
  TrainConfig tc;
  tc.budget = plan.base_budget;
  tc.batch = plan.batch;
  tc.lr = plan.lr;
  tc.seed = plan.seed;
  TrainState base = TrainState::create(NetConfig::from_json(net_json), tc);
  base.data = {{"source", "builtin"}, {"spec", spec.to_json()}, {"n", plan.n_data}, {"seed", plan.seed}};
  base.provenance = {{"role", "base"},
                     {"summary", "base trained on built-in '" + plan.dataset + "' (" + std::to_string(plan.n_data) +
                                     " samples, seed " + std::to_string(plan.seed) + ")"}};

  auto trainer_options = [&](const std::string& path, double offset, double weight, const char* stage, int id) {
    TrainOptions o;
    o.cancel = ctx.cancel_flag();
    o.device = c10::Device(plan.device);
    o.checkpoint_path = path;
    // Often enough for a live curve and ETA even with huge budgets.
    o.progress_every = std::clamp<int64_t>(plan.base_budget / 200, plan.batch, 20 * plan.batch);
    o.on_progress = [&ctx, offset, weight, total, stage, id](const TrainEvent& e) {
      const double f = (offset + weight * e.images_seen / static_cast<double>(e.budget)) / total;
      ctx.progress(f, stage, {{"stage", id}, {"images", static_cast<double>(e.images_seen)}, {"loss", e.loss},
                              {"images_per_second", e.images_per_second}});
    };
    return o;
  };

  // 1. base on the real data
  if (train(base, data, trainer_options(plan.base_path(), 0, w_base, "training the base model", 0)) ==
      TrainOutcome::Cancelled)
    return {plan.base_path(), {}};

  // 2. its synthetic set
  const std::string synth = plan.out_dir + "/" + plan.dataset + "-synthetic.npy";
  DenoiserPtr base_model = NetworkDenoiser::from_state(base, plan.base_path());
  SynthConfig sc;
  sc.n = plan.n_synth;
  sc.seed = plan.seed + 1;
  sc.sampler.steps = plan.synth_steps;
  SynthResult sr = generate_synthetic_set(base_model, nullptr, sc, synth, ctx.cancel_flag(),
                                          [&](int64_t done, int64_t n, double) {
                                            ctx.progress((w_base + w_synth * done / std::max<double>(n, 1)) / total,
                                                         "sampling the synthetic set", {{"stage", 1}});
                                          });
  if (sr.cancelled) return {plan.base_path(), {}};

  // 3. the auxiliary: a copy of the base fine-tuned on the synthetic set only
  at::Tensor syn = io::read_npy(synth).to(at::kFloat);
  TrainConfig ta = tc;
  ta.budget = plan.aux_budget;
  ta.seed = plan.seed + 2;
  TrainState aux = TrainState::fork(base, ta);
  aux.provenance.update(nlohmann::json{{"role", "auxiliary"},
                    {"base", plan.base_path()},
                    {"base_images_seen", base.images_seen},
                    {"n_synthetic", plan.n_synth},
                    {"summary", "aux of " + std::filesystem::path(plan.base_path()).filename().string() + " on " +
                                    std::to_string(plan.n_synth) + " synthetic samples"},
                    {"base_history", base.provenance}});
  const TrainOutcome o = train(aux, syn, trainer_options(plan.aux_path(), w_base + w_synth, w_aux, "fine-tuning the auxiliary", 2));
  std::error_code ec;
  std::filesystem::remove(synth, ec);  // SIMS discards S once the auxiliary is trained
  if (o == TrainOutcome::Cancelled) return {plan.base_path(), {}};
  return {plan.base_path(), plan.aux_path()};
}

// [SECTION] The panel ------------------------------------------------------------------

namespace {
QSpinBox* images_box(QWidget* parent, int max, int step, const char* name) {
  auto* s = new QSpinBox(parent);
  s->setObjectName(name);
  s->setRange(1, max);
  s->setSingleStep(step);
  s->setGroupSeparatorShown(true);
  return s;
}

QString hms(double s) {
  if (!(s >= 0) || !std::isfinite(s)) return "--:--";
  const long t = std::lround(s);
  return QString("%1:%2").arg(t / 60, 2, 10, QChar('0')).arg(t % 60, 2, 10, QChar('0'));
}
}  // namespace

TrainPanel::TrainPanel(engine::JobRunner* runner, MessageArea* messages, QWidget* parent)
    : QDialog(parent), messages_(messages) {
  setWindowTitle("Train models — SIMS Algorithm 1");
  auto* v = new QVBoxLayout(this);
  auto* intro = new QLabel("Train a base model on a built-in 2D data set, sample its synthetic set, and fine-tune "
                           "a copy of the base on it (the auxiliary). Runs in the background; the studio stays live.",
                           this);
  intro->setWordWrap(true);
  v->addWidget(intro);
  auto* form = new QFormLayout;
  dataset_ = new QComboBox(this);
  dataset_->setObjectName("dataset");
  for (const auto& n : data::toy2d_names()) dataset_->addItem(QString::fromStdString(n));
  form->addRow("Data set", dataset_);
  n_data_ = images_box(this, 1000000, 500, "nData");
  form->addRow("Training points", n_data_);
  net_ = new QComboBox(this);
  net_->setObjectName("net");
  // 2D networks only (the U-Net configurations model images).
  for (const QFileInfo& fi :
       QDir(QString::fromStdString(sims::asset_path("networks"))).entryInfoList({"mlp2d*.json"}, QDir::Files, QDir::Name))
    net_->addItem(fi.baseName(), fi.absoluteFilePath());
  form->addRow("Network", net_);
  base_budget_ = images_box(this, 100000000, 50000, "baseBudget");
  form->addRow("Base budget (images)", base_budget_);
  n_synth_ = images_box(this, 1000000, 500, "nSynth");
  form->addRow("Synthetic samples", n_synth_);
  aux_budget_ = images_box(this, 100000000, 10000, "auxBudget");
  form->addRow("Aux budget (images)", aux_budget_);
  seed_ = new QSpinBox(this);
  seed_->setRange(0, 1 << 30);
  form->addRow("Seed", seed_);
  auto* out_row = new QHBoxLayout;
  out_dir_ = new QLineEdit(this);
  out_dir_->setObjectName("outDir");
  auto* browse = new QPushButton("…", this);
  out_row->addWidget(out_dir_, 1);
  out_row->addWidget(browse);
  form->addRow("Output folder", out_row);
  load_when_done_ = new QCheckBox("Load the models when done", this);
  load_when_done_->setChecked(true);
  form->addRow("", load_when_done_);
  v->addLayout(form);
  recipe_ = new QLabel(this);
  recipe_->setObjectName("trainRecipe");
  recipe_->setWordWrap(true);
  set_tone(recipe_, Tone::Muted);
  v->addWidget(recipe_);

  jobs_ = new JobControls(runner, messages, "training", "train", "Start", this);
  jobs_->run_button()->setObjectName("trainStart");
  jobs_->run_button()->setDefault(true);
  jobs_->lock_while_running({dataset_, n_data_, net_, base_budget_, n_synth_, aux_budget_, seed_, out_dir_});
  jobs_->set_progress_text([](const engine::JobProgress& p) {
    QString line = QString::fromStdString(p.message);
    const auto loss = p.values.find("loss");
    if (loss != p.values.end() && std::isfinite(loss->second) && loss->second > 0)
      line += QString(" · loss %1").arg(loss->second, 0, 'f', 4);
    if (p.values.count("images_per_second"))
      line += QString(" · %1 img/s").arg(p.values.at("images_per_second"), 0, 'f', 0);
    return line + QString(" · elapsed %1 · ETA %2").arg(hms(p.elapsed), hms(p.eta));
  });
  auto* buttons = new QHBoxLayout;
  buttons->addWidget(jobs_->run_button());
  buttons->addWidget(jobs_->cancel_button());
  buttons->addWidget(jobs_->bar(), 1);
  v->addLayout(buttons);
  v->addWidget(jobs_->status());

  chart_ = new QChart;
  chart_->setTitle("Training loss");
  chart_->legend()->setAlignment(Qt::AlignBottom);
  chart_->setMargins(QMargins(4, 4, 4, 4));
  base_loss_ = new QLineSeries;
  base_loss_->setName("base");
  aux_loss_ = new QLineSeries;
  aux_loss_->setName("auxiliary (fine-tune)");
  chart_->addSeries(base_loss_);
  chart_->addSeries(aux_loss_);
  x_axis_ = new QValueAxis;
  x_axis_->setTitleText("images seen (k): base, then the auxiliary's fine-tuning");
  x_axis_->setLabelFormat("%.0f");
  y_axis_ = new QValueAxis;
  y_axis_->setTitleText("loss");
  y_axis_->setLabelFormat("%.2f");
  chart_->addAxis(x_axis_, Qt::AlignBottom);
  chart_->addAxis(y_axis_, Qt::AlignLeft);
  for (auto* s : {base_loss_, aux_loss_}) s->attachAxis(x_axis_), s->attachAxis(y_axis_);
  // Qt Charts' own light and dark themes (this chart is never exported).
  const auto theme_chart = [this] {
    chart_->setTheme(theme_is_dark() ? QChart::ChartThemeDark : QChart::ChartThemeLight);
  };
  theme_chart();
  connect(ThemeSignals::instance(), &ThemeSignals::changed, this, theme_chart);
  auto* view = new QChartView(chart_, this);
  view->setRenderHint(QPainter::Antialiasing);
  view->setMinimumHeight(240);
  v->addWidget(view, 1);

  // The last settings used, else the recipe of the chosen data set (the shipped grid25 pair's by default).
  QSettings s;
  TrainPlan p = recommended_train_plan(s.value("train/dataset", "grid25").toString().toStdString());
  p.n_data = s.value("train/nData", qlonglong(p.n_data)).toLongLong();
  p.base_budget = s.value("train/baseBudget", qlonglong(p.base_budget)).toLongLong();
  p.n_synth = s.value("train/nSynth", qlonglong(p.n_synth)).toLongLong();
  p.aux_budget = s.value("train/auxBudget", qlonglong(p.aux_budget)).toLongLong();
  p.batch = s.value("train/batch", qlonglong(p.batch)).toLongLong();
  p.lr = s.value("train/lr", p.lr).toDouble();
  p.net_config = s.value("train/net", QString::fromStdString(p.net_config)).toString().toStdString();
  p.out_dir = s.value("train/outDir", QStandardPaths::writableLocation(QStandardPaths::AppDataLocation) + "/models")
                  .toString().toStdString();
  set_plan(p);
  connect(dataset_, &QComboBox::textActivated, this, &TrainPanel::apply_recommended);
  for (QSpinBox* b : {n_data_, base_budget_, n_synth_, aux_budget_})
    connect(b, &QSpinBox::valueChanged, this, &TrainPanel::refresh_recipe);
  connect(net_, &QComboBox::currentIndexChanged, this, &TrainPanel::refresh_recipe);

  connect(jobs_->run_button(), &QPushButton::clicked, this, &TrainPanel::start);
  connect(jobs_, &JobControls::progressed, this, &TrainPanel::on_progress);
  connect(jobs_, &JobControls::ended, this,
          [this](int s, const QString& error) { on_done(static_cast<engine::JobState>(s), error); });
  connect(browse, &QPushButton::clicked, this, [this] {
    const QString d = QFileDialog::getExistingDirectory(this, "Output folder", out_dir_->text());
    if (!d.isEmpty()) out_dir_->setText(d);
  });
  resize(560, 640);
}

TrainPlan TrainPanel::plan() const {
  TrainPlan p;
  p.dataset = dataset_->currentText().toStdString();
  p.n_data = n_data_->value();
  p.net_config = net_->currentData().toString().toStdString();
  p.base_budget = base_budget_->value();
  p.n_synth = n_synth_->value();
  p.aux_budget = aux_budget_->value();
  p.seed = static_cast<uint64_t>(seed_->value());
  p.out_dir = out_dir_->text().toStdString();
  p.lr = lr_;
  p.batch = batch_;
  return p;
}

void TrainPanel::apply_recommended(const QString& dataset) {
  TrainPlan p = recommended_train_plan(dataset.toStdString());
  p.seed = static_cast<uint64_t>(seed_->value());
  p.out_dir = out_dir_->text().toStdString();
  set_plan(p);
}

void TrainPanel::set_plan(const TrainPlan& p) {
  // The fields' own signals would refresh the recipe line once per field; it is refreshed once at the end.
  const QSignalBlocker b1(n_data_), b2(base_budget_), b3(n_synth_), b4(aux_budget_), b5(net_);
  dataset_->setCurrentText(QString::fromStdString(p.dataset));
  n_data_->setValue(static_cast<int>(p.n_data));
  // The same file however its path is spelled (a relative or linked SIMS_DATA_DIR).
  const QString want = QFileInfo(QString::fromStdString(p.net_config)).canonicalFilePath();
  for (int i = 0; i < net_->count(); ++i)
    if (QFileInfo(net_->itemData(i).toString()).canonicalFilePath() == want) net_->setCurrentIndex(i);
  base_budget_->setValue(static_cast<int>(p.base_budget));
  n_synth_->setValue(static_cast<int>(p.n_synth));
  aux_budget_->setValue(static_cast<int>(p.aux_budget));
  seed_->setValue(static_cast<int>(p.seed));
  out_dir_->setText(QString::fromStdString(p.out_dir));
  lr_ = p.lr, batch_ = p.batch;
  refresh_recipe();
}

void TrainPanel::refresh_recipe() {
  const TrainPlan p = plan(), r = recommended_train_plan(p.dataset);
  const bool is_recipe = p.n_data == r.n_data && p.base_budget == r.base_budget && p.n_synth == r.n_synth &&
                         p.aux_budget == r.aux_budget && p.lr == r.lr && p.batch == r.batch &&
                         QFileInfo(QString::fromStdString(p.net_config)).canonicalFilePath() ==
                             QFileInfo(QString::fromStdString(r.net_config)).canonicalFilePath();
  recipe_->setText(QString("Batch %1, learning rate %2. %3")
                       .arg(p.batch)
                       .arg(p.lr)
                       .arg(is_recipe ? (p.dataset == "grid25" || p.dataset == "gaussian"
                                             ? "These are the settings of the shipped pair (tools/make_models.sh)."
                                             : "These are the grid25 recipe's settings at a third of its budget.")
                                      : "Changed from the recipe; choosing the data set again restores it (a "
                                        "budget far below it leaves a blurred base)."));
}

int TrainPanel::loss_points() const { return base_loss_->count() + aux_loss_->count(); }

engine::JobPtr TrainPanel::job() const { return jobs_->job(); }
QPushButton* TrainPanel::start_button() const { return jobs_->run_button(); }
QPushButton* TrainPanel::cancel_button() const { return jobs_->cancel_button(); }

void TrainPanel::start() {
  if (jobs_->running()) return;
  TrainPlan p = plan();
  if (p.out_dir.empty()) {
    messages_->error("choose an output folder for the trained models");
    return;
  }
  QSettings s;
  s.setValue("train/dataset", QString::fromStdString(p.dataset));
  s.setValue("train/nData", qlonglong(p.n_data));
  s.setValue("train/baseBudget", qlonglong(p.base_budget));
  s.setValue("train/nSynth", qlonglong(p.n_synth));
  s.setValue("train/auxBudget", qlonglong(p.aux_budget));
  s.setValue("train/net", QString::fromStdString(p.net_config));
  s.setValue("train/batch", qlonglong(p.batch));
  s.setValue("train/lr", p.lr);
  s.setValue("train/outDir", QString::fromStdString(p.out_dir));
  base_loss_->clear();
  aux_loss_->clear();
  y_min_ = 1e9, y_max_ = 0;
  x_axis_->setRange(0, (p.base_budget + p.aux_budget) / 1000.0);
  base_budget_images_ = p.base_budget;
  p.device = device_name(face_device());
  jobs_->start("train " + p.dataset, [p](engine::JobContext& ctx) -> std::any { return run_train_plan(p, ctx); });
  messages_->info(QString("training on '%1': base %2 images, %3 synthetic samples, aux %4 images → %5")
                      .arg(QString::fromStdString(p.dataset)).arg(p.base_budget).arg(p.n_synth).arg(p.aux_budget)
                      .arg(QString::fromStdString(p.out_dir)));
}

void TrainPanel::cancel() { jobs_->cancel(); }

void TrainPanel::on_progress(const engine::JobProgress& p) {
  // The bar and the status line are up to date; the loss goes on the chart.
  const auto loss = p.values.find("loss");
  if (loss != p.values.end() && std::isfinite(loss->second) && loss->second > 0) {
    const auto stage = p.values.count("stage") ? static_cast<int>(p.values.at("stage")) : -1;
    const double x = (p.values.at("images") + (stage == 2 ? base_budget_images_ : 0)) / 1000.0;
    (stage == 2 ? aux_loss_ : base_loss_)->append(x, loss->second);
    y_min_ = std::min(y_min_, loss->second);
    y_max_ = std::max(y_max_, loss->second);
    const double pad = 0.08 * (y_max_ - y_min_) + 1e-3;
    y_axis_->setRange(std::max(0.0, y_min_ - pad), y_max_ + pad);
  }
  Q_EMIT progressed(p.fraction);
}

void TrainPanel::on_done(engine::JobState s, const QString& error) {
  // The job's result, {base, aux} (aux empty when cancelled early), is final once it is done.
  QString base, aux;
  if (const engine::JobPtr j = jobs_->job(); j && j->result().has_value()) {
    const auto& r = std::any_cast<const std::pair<std::string, std::string>&>(j->result());
    base = QString::fromStdString(r.first);
    aux = QString::fromStdString(r.second);
  }
  switch (s) {
    case engine::JobState::Finished:
      jobs_->set_status("Done: " + base + " and " + aux);
      messages_->info("training finished: " + base + ", " + aux);
      if (load_when_done_->isChecked()) Q_EMIT models_ready(base, aux);
      break;
    case engine::JobState::Cancelled:
      jobs_->set_status("Cancelled" + (base.isEmpty() ? QString() : " (checkpoint kept: " + base + ")"));
      messages_->warning("training cancelled");
      break;
    default:
      break;  // reported by the controls
  }
  Q_EMIT finished(static_cast<int>(s));
}

}  // namespace sims::ui
