#include "common/paths.hpp"
#include "theme.hpp"
#include "loops/tune.hpp"
#include "sweep_view.hpp"

#include <algorithm>
#include <limits>
#include <optional>
#include <cmath>
#include <sstream>
#include <tuple>

#include <QCheckBox>
#include <QComboBox>
#include <QFileInfo>
#include <QGridLayout>
#include <QLabel>
#include <QLineEdit>
#include <QSpinBox>
#include <QSplitter>
#include <QTimer>
#include <QTableWidget>
#include <QVBoxLayout>

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include "analysis_chart.hpp"
#include "common/error.hpp"
#include "data/image_datasets.hpp"
#include "data/toy2d.hpp"
#include "experiment/settings.hpp"
#include "message_area.hpp"
#include "metrics/uncertainty.hpp"
#include "models_panel.hpp"
#include "render/animation.hpp"
#include "sample_strip.hpp"

namespace sims::ui {

// [SECTION] The job --------------------------------------------------------------------

std::vector<double> parse_omega_list(const std::string& text) {
  std::vector<double> out;
  std::stringstream ss(text);
  std::string v;
  while (std::getline(ss, v, ',')) {
    const auto a = v.find_first_not_of(" \t"), b = v.find_last_not_of(" \t");
    if (a == std::string::npos) throw InputError("the ω list '" + text + "' has an empty value");
    const std::string t = v.substr(a, b - a + 1);
    size_t used = 0;
    double w = 0;
    try {
      w = std::stod(t, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used != t.size() || !std::isfinite(w)) throw InputError("'" + t + "' in the ω list is not a finite number");
    out.push_back(w);
  }
  if (out.empty()) throw InputError("give at least one ω value (e.g. 0,1,2)");
  return out;
}

namespace {

// The field's LO:HI, read as every face reads it (experiment::parse_interval); blanks around the parts allowed.
std::pair<double, double> parse_interval_text(const QString& text) {
  QString t = text;
  t.remove(' ');
  return experiment::parse_interval(t.toStdString(), "the guidance interval");
}

SampleSet to_set(const at::Tensor& t, int64_t max_rows) {
  SampleSet s;
  if (!t.defined() || t.dim() < 1) return s;
  at::Tensor f = t.narrow(0, 0, std::min<int64_t>(t.size(0), max_rows)).to(at::kFloat).contiguous();
  s.shape.assign(f.sizes().begin() + 1, f.sizes().end());
  s.data.assign(f.data_ptr<float>(), f.data_ptr<float>() + f.numel());
  return s;
}

QString num(double v, int digits = 4) {
  if (std::isnan(v)) return "–";
  if (std::isinf(v)) return v > 0 ? "diverged" : "-inf";
  return QString::number(v, 'g', digits);
}

// "0.520 [0.470, 0.560]": an interval that need not be symmetric (a share's Wilson interval near 0 or 1), to its
// precision.
QString with_bounds(double v, double lo, double hi) {
  if (!std::isfinite(v)) return num(v, 3);
  return QString::fromStdString(metrics::Estimate::of(v, lo, hi).bounds_text());
}

// A row's KID with its 95 % interval ("KID 193 [101, 284]", to the interval's precision; the sweep adds it for images
// with real data, the interval from 20 samples on, none with intervals off); empty where the row has no KID.
// `tip`: the words a tooltip adds (what it is, and why there is no interval where there is none).
QString kid_text(const metrics::SweepRow& r, bool tip = false) {
  const auto number = [&r](const char* key) {
    const auto it = r.extra.find(key);
    return it != r.extra.end() && it->is_number() ? it->get<double>() : std::numeric_limits<double>::quiet_NaN();
  };
  const double v = number("kid"), lo = number("kid_lo"), hi = number("kid_hi");
  if (!std::isfinite(v)) return {};
  const bool ci = std::isfinite(lo) && std::isfinite(hi);
  return "KID " + with_bounds(v, lo, hi) +
         (!tip ? QString()
          : ci ? QString(" (unbiased MMD², lower is better; 95 % interval from disjoint subsets of the samples)")
               : QString(" (unbiased MMD², lower is better; no interval: intervals off, or fewer than 20 samples)"));
}

const QColor kSims(214, 82, 48), kPrecision(60, 100, 170), kRecall(60, 150, 90);
const QColor kPalette[] = {QColor(60, 100, 170), QColor(214, 82, 48), QColor(60, 150, 90), QColor(150, 80, 170),
                           QColor(200, 150, 30), QColor(40, 160, 170)};

// The real data a sweep compares with, and the second real set that gives the
// metric's floor (held out from the seeds the Train dialog uses).
constexpr uint64_t kRealSeed = 12345, kFloorSeed = metrics::floor_seed(kRealSeed);

// Real points compared with: the energy distance takes a large reference cheaply (less noise from it), W2 as
// many as samples.
int64_t real_count(int64_t n, bool energy) { return energy ? std::max(n, metrics::kEnergyReference) : n; }

}  // namespace

metrics::SweepResult run_sweep_plan(const SweepPlan& p, const DenoiserPtr& base, const DenoiserPtr& aux,
                                    const std::string& aux_label, engine::JobContext& ctx,
                                    const std::function<void(const at::Tensor&)>& on_reference,
                                    const std::function<void(const metrics::SweepResult&)>& on_row) {
  c10::InferenceMode guard;
  if (!base) throw InputError("load a base model first (File ▸ Open base model)");
  if (!aux) throw InputError("a sweep needs an auxiliary model: load one (File ▸ Open auxiliary model)");
  const auto& shape = base->info().sample_shape;
  if (aux->info().sample_shape != shape) throw InputError("the base and auxiliary models sample different shapes");
  if (p.omegas.empty()) throw InputError("give at least one ω value");
  const bool images = shape.size() == 3;

  ctx.progress(0, "preparing the real data");
  metrics::SweepReference ref;
  metrics::FeatureNetPtr features;
  metrics::ClassifierPtr classifier;
  if (images) {
    if (p.features.empty()) throw InputError("image models need a feature network for FD (e.g. assets/models/faces-cnn.ckpt)");
    if (p.real.empty()) throw InputError("name the real data to compare with (e.g. faces)");
    features = metrics::load_feature_net(p.features);
    if (!p.classifier.empty()) classifier = metrics::load_classifier(p.classifier);
    const auto spec = data::ImageDatasetSpec::parse(p.real, "real data");
    ref.real_images = data::load_images(spec, p.n, kRealSeed).images;
    if (spec.kind == "faces") ref.floor_samples = data::load_images(spec, p.n, kFloorSeed).images;  // generated: independent
    const auto s = ref.real_images.sizes();
    if (s.size() != 4 || s[1] != shape[0] || s[2] != shape[1] || s[3] != shape[2])
      throw InputError("the real data '" + p.real + "' gives images " + c10::str(s.slice(1)) +
                       " but the models sample " + c10::str(at::IntArrayRef(shape)));
  } else {
    if (shape != std::vector<int64_t>{2}) throw InputError("the Sweep tab handles 2D point models and image models");
    if (p.real.empty()) throw InputError("name the built-in 2D data set to compare with (e.g. grid25)");
    const auto spec = data::Toy2dSpec::named(p.real);
    ref.real_points = data::sample_toy2d(spec, real_count(p.n, p.metric == "energy"), kRealSeed);
    ref.floor_samples = data::sample_toy2d(spec, p.n, kFloorSeed);
  }
  if (on_reference) on_reference(images ? ref.real_images : ref.real_points);

  metrics::SweepConfig cfg;
  cfg.intervals = {{p.lo, p.hi}};
  cfg.sampler.steps = p.steps;
  cfg.n = p.n;
  cfg.seed = p.seed;
  cfg.keep = p.keep;
  cfg.batch = 64;
  cfg.ci = p.ci;
  cfg.point_metric = p.metric;
  const std::vector<metrics::SweepAux> auxes{{aux_label, aux}};
  metrics::SweepResult all;
  all.ci_level = cfg.ci_level;
  ctx.progress(0, "the real-data floor");
  all.floor = metrics::score_floor(cfg, ref, features.get());  // first: the charts draw it under the rows
  const size_t K = p.omegas.size();
  for (size_t k = 0; k < K; ++k) {
    ctx.check_cancel();
    cfg.omegas = {p.omegas[k]};
    // One ω per call: the noise depends only on (n, seed), so the rows equal
    // one multi-ω sweep's, and each one can be shown as soon as it is done.
    auto progress = [&](size_t i, size_t total, const std::string& stage) {
      ctx.progress((k + static_cast<double>(i) / std::max<size_t>(total, 1)) / K,
                   "ω " + std::to_string(k + 1) + "/" + std::to_string(K) + ": " + stage);
      return !ctx.cancelled();
    };
    metrics::SweepResult one = metrics::run_sweep(base, auxes, cfg, ref, features.get(), classifier.get(), progress, ctx.cancel_flag());
    if (all.rows.empty()) all.metric = one.metric, all.features = one.features, all.attr_names = one.attr_names;
    all.rows.push_back(one.rows.at(0));
    metrics::add_paired_gains(all, cfg, ref);  // the whole grid again: all rows paired, or none (quadrature)
    if (on_row) on_row(all);
  }
  ctx.progress(1.0, "done");
  return all;
}

// The distance's name: FD_<features>, "energy distance" or "W2".
static QString metric_name(const std::string& metric, const std::string& features) {
  if (metric == "fd") return features.empty() ? QString("FD") : "FD_" + QString::fromStdString(features);
  return metric == "energy" ? QString("energy distance") : QString("W2");
}

void SweepView::name_distance_chart(const std::string& metric, const std::string& features) {
  dist_chart_->set_title(metric_name(metric, features) + " to real data (lower is better; band: 95 % CI)");
  // A short chart: a longer axis title would be clipped.
  dist_chart_->set_y_title(metric == "fd" ? "FD" : metric == "energy" ? "energy" : "W2");
}

// [SECTION] The view ------------------------------------------------------------------

SweepView::SweepView(ModelsPanel* models, MessageArea* messages, QWidget* parent)
    : AnalysisTab({"sweep", "Guidance sweep of the loaded models", "Run sweep", "nothing to export yet: run a sweep first",
                   "Export the sweep table as CSV"},
                  messages, parent),
      models_(models) {
  QWidget* box = form_box();
  omegas_ = new QLineEdit(box);
  omegas_->setObjectName("sweepOmegas");
  omegas_->setToolTip("Comma-separated guidance weights ω; D = (1+ω)·D_base − ω·D_aux. ω = 0 is the base model.");
  n_ = new QSpinBox(box);
  n_->setObjectName("sweepN");
  n_->setRange(8, 20000);
  n_->setSingleStep(100);
  n_->setToolTip("Samples per ω, and real samples they are compared with");
  steps_ = new QSpinBox(box);
  steps_->setObjectName("sweepSteps");
  steps_->setRange(2, 256);
  seed_ = new QSpinBox(box);
  seed_->setObjectName("sweepSeed");
  seed_->setRange(0, 1 << 30);
  seed_->setToolTip("Starting noise: the same for every ω");
  interval_ = new QLineEdit("0:inf", box);
  interval_->setObjectName("sweepInterval");
  interval_->setToolTip("Guidance interval LO:HI in σ: guidance applies where LO < σ ≤ HI");
  real_ = new QLineEdit(box);
  real_->setObjectName("sweepReal");
  features_ = new QLineEdit(box);
  features_->setObjectName("sweepFeatures");
  features_->setToolTip("Feature network for FD and precision/recall of images (a sims feature CNN or TorchScript)");
  shares_ = new QCheckBox("attribute shares (same network)", box);
  shares_->setObjectName("sweepShares");
  shares_->setChecked(true);
  metric_ = new QComboBox(box);
  metric_->setObjectName("sweepMetric");
  metric_->addItem("W2 (exact)", "w2");
  metric_->addItem("energy distance", "energy");
  metric_->setToolTip("The metric the points are judged by. W2 of finite samples has a floor well above 0 and can "
                      "reward samples narrower than the data; the energy distance is unbiased (0 for the data "
                      "itself), so small gains show.");
  add_field("ω values", omegas_);
  add_field("samples per ω", n_);
  add_field("steps", steps_);
  add_field("seed", seed_);
  add_field("interval σ", interval_);
  add_field("real data", real_);
  features_label_ = add_field("feature net", features_);
  metric_label_ = add_field("metric", metric_);
  add_form_row(shares_);
  overlay_ = new QCheckBox("overlay earlier sweeps", this);
  overlay_->setObjectName("sweepOverlay");
  overlay_->setChecked(true);
  overlay_->setToolTip("Keep up to three earlier sweeps with the same metric on the distance chart, dashed "
                       "(e.g. another interval, step count or auxiliary)");
  add_action(overlay_);

  // Charts | (large view / table), strip below.
  // Distance across the top; precision/recall and (images) attribute shares below it, side by side.
  auto* charts = new QWidget(this);
  auto* cv = charts_grid_ = new QGridLayout(charts);
  cv->setContentsMargins(0, 0, 0, 0);
  cv->setSpacing(4);
  dist_chart_ = new AnalysisChart("Distance to the real data", "guidance weight ω", "W2", charts);
  dist_chart_->setObjectName("sweepDistanceChart");
  // The axis follows the values and their intervals (near 1 both lines were flat and drawn on top of each other).
  pr_chart_ = new AnalysisChart("Precision and recall (k = 5), higher is better", "guidance weight ω", "fraction", charts);
  pr_chart_->setObjectName("sweepPrChart");
  pr_chart_->set_y_ceiling(1);
  ratio_chart_ = new AnalysisChart("Attribute shares (classifier)", "guidance weight ω", "share", charts);
  ratio_chart_->setObjectName("sweepRatioChart");
  ratio_chart_->set_y_include(0, 1);
  cv->addWidget(dist_chart_, 0, 0, 1, 2);
  cv->addWidget(pr_chart_, 1, 0);
  cv->addWidget(ratio_chart_, 1, 1);
  pr_chart_->align_with(ratio_chart_);  // side by side: their plot areas line up
  cv->setRowStretch(0, 1);
  cv->setRowStretch(1, 1);
  cv->setColumnStretch(0, 1);
  cv->setColumnStretch(1, 1);

  right_ = new QSplitter(Qt::Vertical, this);
  right_->setChildrenCollapsible(false);
  table_ = make_table(90);  // every column as wide as its values: a narrow window scrolls, never cuts a number
  table_->setSelectionMode(QAbstractItemView::SingleSelection);
  right_->addWidget(table_);

  auto* middle = new QSplitter(Qt::Horizontal, this);
  middle->setChildrenCollapsible(false);
  middle->addWidget(charts);
  middle->addWidget(right_);
  middle->setStretchFactor(0, 3);
  middle->setStretchFactor(1, 2);
  middle->setSizes({660, 440});
  body()->addWidget(middle, 1);
  verdict_ = new QLabel(this);
  verdict_->setObjectName("sweepVerdict");
  verdict_->setWordWrap(true);
  body()->addWidget(verdict_);

  auto* strip_title = new QLabel(this);
  const auto title_strip = [strip_title] {
    strip_title->setText("<b>Samples per ω</b> " + toned("(same starting noise for every ω; click a cell, a chart column "
                                                         "or a table row to show it large)", Tone::Muted));
  };
  title_strip();
  connect(ThemeSignals::instance(), &ThemeSignals::changed, strip_title, title_strip);
  connect(ThemeSignals::instance(), &ThemeSignals::changed, this, &SweepView::show_verdict);
  strip_title->setWordWrap(true);
  body()->addWidget(strip_title);
  strip_ = new SampleStrip(this);
  strip_->setObjectName("sweepStrip");
  strip_->set_cell_size(100);
  body()->addWidget(strip_);

  connect(strip_, &SampleStrip::cell_clicked, this, [this](int i) {
    user_selected_ = true;
    select(i);
  });
  for (AnalysisChart* c : {dist_chart_, pr_chart_, ratio_chart_})
    connect(c, &AnalysisChart::x_clicked, this, [this](double w) {
      for (size_t i = 0; i < result_.rows.size(); ++i)
        if (std::abs(result_.rows[i].omega - w) < 1e-9) {
          user_selected_ = true;
          select(static_cast<int>(i));
          return;
        }
    });
  connect(table_, &QTableWidget::cellClicked, this, [this](int r, int) {
    user_selected_ = true;
    select(r);
  });
  for (QLineEdit* e : {omegas_, interval_, real_, features_}) connect(e, &QLineEdit::textChanged, this, &SweepView::describe);
  for (QSpinBox* s : {n_, steps_, seed_}) connect(s, qOverload<int>(&QSpinBox::valueChanged), this, &SweepView::describe);
  connect(shares_, &QCheckBox::toggled, this, &SweepView::describe);
  connect(metric_, qOverload<int>(&QComboBox::currentIndexChanged), this, &SweepView::describe);
  connect(models_, &ModelsPanel::models_changed, this, &SweepView::on_models_changed);

  SweepPlan p;
  set_plan(p);
  on_models_changed();
  shape_ = controls_shape_.empty() ? std::vector<int64_t>{2} : controls_shape_;
  ensure_large_view();
  right_->setSizes({440, 150});
  reset_results();
}

// [SECTION] Plan and models ----------------------------------------------------------------

SweepPlan SweepView::plan() const {
  SweepPlan p;
  p.omegas = parse_omega_list(omegas_->text().toStdString());
  std::tie(p.lo, p.hi) = parse_interval_text(interval_->text());
  p.n = n_->value();
  p.steps = steps_->value();
  p.seed = static_cast<uint64_t>(seed_->value());
  const bool images = controls_shape_.size() == 3;
  p.keep = images ? 36 : 2000;
  p.real = real_->text().trimmed().toStdString();
  p.metric = images ? "w2" : metric_->currentData().toString().toStdString();
  if (images) {
    p.features = features_->text().trimmed().toStdString();
    if (shares_->isChecked()) p.classifier = p.features;
  }
  return p;
}

void SweepView::set_plan(const SweepPlan& p) {
  QStringList w;
  for (double x : p.omegas) w << QString::number(x);
  omegas_->setText(w.join(","));
  interval_->setText(QString("%1:%2").arg(p.lo).arg(std::isinf(p.hi) ? QString("inf") : QString::number(p.hi)));
  n_->setValue(static_cast<int>(p.n));
  steps_->setValue(p.steps);
  seed_->setValue(static_cast<int>(p.seed));
  if (!p.real.empty()) real_->setText(QString::fromStdString(p.real));
  if (!p.features.empty()) features_->setText(QString::fromStdString(p.features));
  metric_->setCurrentIndex(std::max(0, metric_->findData(QString::fromStdString(p.metric))));
  shares_->setChecked(!p.classifier.empty() || p.features.empty());
  describe();
}

void SweepView::on_models_changed() {
  const DenoiserPtr base = models_->base();
  const std::vector<int64_t> shape = base ? base->info().sample_shape : std::vector<int64_t>{};
  const bool images = shape.size() == 3;
  // Defaults that fit the model kind: thousands of points are cheap, images are not.
  if (base && shape != controls_shape_) {
    controls_shape_ = shape;
    n_->setValue(images ? 64 : 1000);
    steps_->setValue(images ? 12 : 18);
    std::string real;
    const auto& prov = base->info().provenance;
    if (prov.contains("data") && prov["data"].is_object()) {
      const auto& d = prov["data"];
      if (images) real = d.value("spec_string", std::string());
      else if (d.contains("spec") && d["spec"].is_object()) real = d["spec"].value("name", std::string());
    }
    if (real.empty()) real = images ? "faces" : "grid25";
    real_->setText(QString::fromStdString(real));
    const QString cnn = QString::fromStdString(sims::asset_path("models/faces-cnn.ckpt"));
    if (images && features_->text().isEmpty() && QFileInfo::exists(cnn) && real.rfind("faces", 0) == 0)
      features_->setText(cnn);
  }
  // A tuned pair (`sims tune`): the sweep starts as it was measured, its ω in the list.
  std::optional<loops::TunedPair> tuned;
  try {
    tuned = loops::read_tuned_pair(models_->path(ModelRole::Aux).toStdString());
  } catch (const sims::Error&) {  // the session controller reports a bad file
  }
  if (tuned && models_->path(ModelRole::Aux) != tuned_for_) {
    tuned_for_ = models_->path(ModelRole::Aux);
    std::vector<double> w;
    try {
      w = parse_omega_list(omegas_->text().toStdString());
    } catch (const sims::Error&) {
      w = SweepPlan().omegas;
    }
    if (std::find(w.begin(), w.end(), tuned->omega) == w.end()) w.push_back(tuned->omega);
    std::sort(w.begin(), w.end());
    QStringList parts;
    for (double v : w) parts << QString::number(v);
    omegas_->setText(parts.join(", "));
    if (tuned->n >= n_->minimum() && tuned->n <= n_->maximum()) n_->setValue(static_cast<int>(tuned->n));
    if (tuned->steps >= steps_->minimum() && tuned->steps <= steps_->maximum()) steps_->setValue(tuned->steps);
    if (metric_->findData(QString::fromStdString(tuned->metric)) >= 0)
      metric_->setCurrentIndex(metric_->findData(QString::fromStdString(tuned->metric)));
  }
  features_label_->setVisible(images);
  features_->setVisible(images);
  metric_label_->setVisible(!images);
  metric_->setVisible(!images);
  shares_->setVisible(images);
  if (result_.rows.empty()) show_shares(images);
  real_->setToolTip(images ? "Real images compared with: a data set spec (faces, faces:ratio=0.3, folder:DIR, npy:FILE, …)"
                           : "Real points compared with: a built-in 2D data set (" +
                                 QString::fromStdString([] {
                                   std::string s;
                                   for (const auto& n : data::toy2d_names()) s += (s.empty() ? "" : ", ") + n;
                                   return s;
                                 }()) + ")");
  describe();
}

void SweepView::describe() {
  const DenoiserPtr base = models_->base(), aux = models_->aux();
  const bool images = controls_shape_.size() == 3;
  if (!base || !aux) {
    about()->setText("Load a base and an auxiliary model (File ▸ Open) to run a sweep.");
    return;
  }
  QString omegas = omegas_->text();
  int count = 0;
  try {
    count = static_cast<int>(parse_omega_list(omegas.toStdString()).size());
  } catch (const InputError&) {
  }
  const bool energy = !images && metric_->currentData().toString() == "energy";
  if (result_.rows.empty())
    name_distance_chart(images ? "fd" : energy ? "energy" : "w2", "");
  about()->setText(QString("Runs %1 × %2 %3 (%4 Heun steps, seed %5) of <b>%6</b> guided by <b>%7</b>, and compares "
                          "each set with %10 real samples of '%8' (%9).")
                      .arg(count)
                      .arg(n_->value())
                      .arg(images ? "images" : "points")
                      .arg(steps_->value())
                      .arg(seed_->value())
                      .arg(QFileInfo(models_->path(ModelRole::Base)).fileName().toHtmlEscaped(),
                           QFileInfo(models_->path(ModelRole::Aux)).fileName().toHtmlEscaped(), real_->text().toHtmlEscaped(),
                           QString(images   ? "FD of feature statistics; precision/recall in the same feature space"
                                   : energy ? "energy distance, unbiased: 0 for the data itself; W2 and "
                                              "precision/recall on as many real points as samples"
                                            : "exact W2 by optimal transport; precision/recall on the points"))
                      .arg(real_count(n_->value(), energy)));
}

// [SECTION] Running --------------------------------------------------------------------------

void SweepView::ensure_large_view() {
  // The large view fits the samples shown (points or an image grid).
  if (large_ && large_shape_ == shape_) return;
  delete large_;
  large_ = make_sample_view(shape_, right_);
  large_->setObjectName("sweepLarge");
  large_shape_ = shape_;
  right_->insertWidget(0, large_);
  right_->setStretchFactor(0, 3);
  right_->setStretchFactor(1, 2);
  // The table shows several rows on a short window too: the large view may shrink below a view's usual minimum.
  large_->setMinimumSize(160, 160);
  right_->setSizes({300, 200});
}

void SweepView::show_shares(bool on) {
  // Without attribute shares, precision/recall takes the whole row.
  ratio_chart_->setVisible(on);
  charts_grid_->removeWidget(pr_chart_);
  charts_grid_->addWidget(pr_chart_, 1, 0, 1, on ? 1 : 2);
}

void SweepView::reset_results() {
  result_ = {};
  real_points_ = {};
  bounds_ = QRectF();
  selected_ = -1;
  user_selected_ = false;
  for (AnalysisChart* c : {dist_chart_, pr_chart_, ratio_chart_}) c->clear();
  verdict_->clear();
  strip_->clear();
  table_->clear();
  table_->setRowCount(0);
  table_->setColumnCount(0);
  if (large_) {
    ViewContent c;
    c.title = "No sweep yet";
    c.subtitle = "run one: the samples of the ω you pick show here";
    large_->set_content(c);
  }
}

void SweepView::showEvent(QShowEvent* e) {
  // The window loads its first models with the panel's signals blocked.
  on_models_changed();
  QWidget::showEvent(e);
}

void SweepView::resizeEvent(QResizeEvent* e) {
  // On a short window (a 1280 x 720 screen) the strip's cells shrink so the charts keep room for their axes.
  strip_->set_cell_size(height() < 660 ? 76 : 100);
  QWidget::resizeEvent(e);
  // The large view and the table share the right column 3 : 2 after a resize (once the layout has run).
  QTimer::singleShot(0, this, [this] {
    const int h = right_->height();
    if (large_ && h > 0) right_->setSizes({h - 2 * h / 5, 2 * h / 5});
  });
}

engine::JobFn SweepView::prepare_job() {
  if (models_->base() && models_->base()->info().sample_shape != controls_shape_) on_models_changed();
  const SweepPlan p = plan();
  const DenoiserPtr base = models_->base(), aux = models_->aux();
  shape_ = base ? base->info().sample_shape : std::vector<int64_t>{2};
  ensure_large_view();
  if (!result_.rows.empty()) {  // the shown sweep becomes an earlier one
    earlier_.push_back({result_, running_label_});
    if (earlier_.size() > 3) earlier_.erase(earlier_.begin());
  }
  reset_results();
  planned_ = p.omegas.size();
  plan_omegas_ = p.omegas;
  plan_n_ = p.n;
  const std::string aux_label = QFileInfo(models_->path(ModelRole::Aux)).fileName().toStdString();
  models_text_ = QFileInfo(models_->path(ModelRole::Base)).fileName() + " guided by " + QString::fromStdString(aux_label);
  running_label_ = QString("%1 · σ in (%2, %3] · %4 steps · seed %5")
                       .arg(QString::fromStdString(aux_label))
                       .arg(p.lo, 0, 'g', 3)
                       .arg(std::isinf(p.hi) ? QString("∞") : QString::number(p.hi, 'g', 3))
                       .arg(p.steps)
                       .arg(p.seed);
  render::SamplingProvenance prov = render::SamplingProvenance::of(
      models_->path(ModelRole::Base).toStdString(), models_->path(ModelRole::Aux).toStdString(), Guidance{0, p.lo, p.hi},
      SamplerConfig{}, static_cast<long long>(p.seed), p.n);
  prov.steps = p.steps;
  prov.per_cell = true;
  prov.varied = {"omega"};
  caption_ = QString::fromStdString(prov.caption()) +
             QString(" · compared with %1 real samples (%2)")
                 .arg(shape_.size() == 1 ? real_count(p.n, p.metric == "energy") : p.n)
                 .arg(QString::fromStdString(p.real));
  messages()->info(QString("sweep: %1 ω values × %2 samples, %3").arg(p.omegas.size()).arg(p.n).arg(models_text_));

  auto to_reference = on_ui<SampleSet>([this](const SampleSet& s) { on_reference(s); });
  auto on_ref = [to_reference](const at::Tensor& real) { to_reference(to_set(real, real.dim() == 2 ? 4000 : 0)); };
  auto on_row = on_ui<metrics::SweepResult>([this](const metrics::SweepResult& one) { add_row(one); });
  return [p, base, aux, aux_label, on_ref, on_row](engine::JobContext& ctx) -> std::any {
    return run_sweep_plan(p, base, aux, aux_label, ctx, on_ref, on_row);
  };
}

void SweepView::job_ended(engine::JobState s) {
  const QString got = QString("%1 of %2 ω values").arg(result_.rows.size()).arg(planned_);
  if (s == engine::JobState::Cancelled) {
    set_status("Cancelled after " + got);
    messages()->warning("sweep cancelled after " + got);
    return;
  }
  set_status("Done: " + got);
  if (!user_selected_) {  // show the ω the verdict names: the surest gain (the lowest value without a base row)
    const metrics::SweepResult::NamedRows n = result_.named_rows();
    const metrics::SweepRow* shown = n.named ? n.named : n.zero;
    select(shown ? static_cast<int>(shown - result_.rows.data()) : -1);
  }
  messages()->info("sweep finished: " + got);
}

void SweepView::on_reference(const SampleSet& real) {
  real_points_ = real;
  if (real.shape == std::vector<int64_t>{2}) bounds_ = bounds_of({&real_points_});
}

void SweepView::add_row(const metrics::SweepResult& one) {
  if (one.rows.empty()) return;
  const metrics::SweepRow& r = one.rows.back();
  const bool first = result_.rows.empty();
  if (first) {
    result_.metric = one.metric;
    result_.features = one.features;
    result_.attr_names = one.attr_names;
    const QString dname = metric_name(one.metric, one.features);
    name_distance_chart(one.metric, one.features);
    dist_chart_->add_series(dname, kSims, false, true);
    if (std::isfinite(one.floor.value)) {  // real vs real at the rows' size: what no model can beat here
      dist_chart_->add_series(QString("real vs real (floor) %1").arg(QString::fromStdString(one.floor.precise_text())),
                              QColor(120, 120, 120), true);
      const auto [w0, w1] = std::minmax_element(plan_omegas_.begin(), plan_omegas_.end());
      if (w0 != plan_omegas_.end())
        for (double w : {*w0, *w1}) dist_chart_->append(1, w, one.floor.value);
    }
    // Earlier sweeps with the same metric, dashed (newest darkest), after the series the rows append to.
    if (overlay_->isChecked())
      for (size_t e = 0; e < earlier_.size(); ++e) {
        const metrics::SweepResult& was = earlier_[e].result;
        if (was.metric != one.metric || was.features != one.features) continue;
        const int shade = 110 + 40 * static_cast<int>(earlier_.size() - 1 - e);
        const int k = dist_chart_->add_series("earlier: " + earlier_[e].label, QColor(shade, shade, shade + 20), true);
        for (const metrics::SweepRow& row : was.rows) dist_chart_->append(k, row.omega, row.value);
      }
    pr_chart_->add_series("precision", kPrecision, false, true);
    pr_chart_->add_series("recall", kRecall, false, true);
    for (size_t k = 0; k < one.attr_names.size(); ++k)
      ratio_chart_->add_series(QString::fromStdString(one.attr_names[k]), kPalette[k % 6]);
    show_shares(!one.attr_names.empty());
    // Two-line headers, so the numbers set the columns' widths; NFE and time in the ω cell's tooltip. At 1600×1000
    // (and 1280×720 without attributes) every column then fits beside the charts.
    QStringList cols{"ω", QString(dname).replace('_', '\n').replace(' ', '\n'), "precision", "recall"};
    for (const auto& a : one.attr_names) cols << QString::fromStdString("share\n" + a);
    set_columns(table_, cols);
    const QStringList tips{"Guidance weight: D = (1+ω)·D_base − ω·D_aux; ω = 0 is the base model",
                           dname + " to the real data; lower is better; ± the larger side of its 95 % interval",
                           "Share of samples inside the real data's manifold (k-NN balls); higher is better; ± 95 % "
                           "bootstrap",
                           "Share of real data inside the samples' manifold; higher is better; ± 95 % bootstrap"};
    for (int c = 0; c < table_->columnCount(); ++c)
      table_->horizontalHeaderItem(c)->setToolTip(
          c < tips.size() ? tips[c]
                          : "Share of samples the classifier gives this attribute, with its 95 % Wilson interval");
  }
  result_.rows.push_back(r);
  result_.floor = one.floor, result_.ci_level = one.ci_level;
  for (size_t k = 0; k < result_.rows.size() && k < one.rows.size(); ++k) {  // paired gains filled in since
    auto& d = result_.rows[k];
    d.gain = one.rows[k].gain, d.gain_lo = one.rows[k].gain_lo, d.gain_hi = one.rows[k].gain_hi;
  }
  const int i = static_cast<int>(result_.rows.size()) - 1;
  dist_chart_->append(0, r.omega, r.value, r.value_lo, r.value_hi);
  pr_chart_->append(0, r.omega, r.precision, r.precision_lo, r.precision_hi);
  pr_chart_->append(1, r.omega, r.recall, r.recall_lo, r.recall_hi);
  // Each share is k of the row's n samples: its 95 % Wilson interval, as the CLI's plot draws it.
  const int64_t n = samples_per_row();
  std::vector<metrics::Estimate> shares;
  for (double v : r.ratios) shares.push_back(metrics::share_interval(v, n));
  for (size_t k = 0; k < r.ratios.size() && static_cast<int>(k) < ratio_chart_->series_count(); ++k)
    ratio_chart_->append(static_cast<int>(k), r.omega, r.ratios[k], shares[k].lo, shares[k].hi);
  const QString caption = QString("ω = %1 · %2").arg(r.omega).arg(with_ci(r.value, r.value_lo, r.value_hi));
  if (shape_.size() == 3)
    strip_->add_cell(images_mosaic(to_set(r.kept, 16), 16), caption);
  else
    strip_->add_points_cell(to_set(r.kept, 2000), real_points_, bounds_, kSims, 260, caption);
  QStringList cells{QString::number(r.omega), with_ci(r.value, r.value_lo, r.value_hi),
                    with_ci(r.precision, r.precision_lo, r.precision_hi, 3), with_ci(r.recall, r.recall_lo, r.recall_hi, 3)};
  for (size_t k = 0; k < result_.attr_names.size(); ++k)
    cells << (k < r.ratios.size() ? with_bounds(r.ratios[k], shares[k].lo, shares[k].hi) : "–");
  set_row(table_, i, cells);
  table_->item(i, 0)->setToolTip(QString("NFE %1 · sampled and scored in %2 s").arg(r.nfe).arg(r.seconds, 0, 'f', 2));
  if (const QString kid = kid_text(r, true); !kid.isEmpty())  // the unbiased distance beside FD, in its cell's tooltip
    table_->item(i, 1)->setToolTip(kid);
  if (!user_selected_) select(i);  // follow the newest row until the user picks one
  show_verdict();
  Q_EMIT row_added(i);
}

void SweepView::show_verdict() {
  const auto v = result_.verdicts();
  const bool gain = !v.empty() && v.front().rfind("SIMS ", 0) == 0 && v.front().find("does not help") == std::string::npos;
  const QString text = v.empty() ? QString() : QString::fromStdString(metrics::omega_as_symbol(v.front()));
  verdict_->setText(v.empty() ? QString()
                              : QString("<b style='color:%1'>%2</b>")
                                    .arg(tone_hex(gain ? Tone::Good : Tone::Warning), text.toHtmlEscaped()));
}

void SweepView::select(int i) {
  if (i < 0 || i >= static_cast<int>(result_.rows.size())) return;
  selected_ = i;
  const metrics::SweepRow& r = result_.rows[i];
  for (AnalysisChart* c : {dist_chart_, pr_chart_, ratio_chart_}) c->set_highlight(r.omega);
  strip_->set_selected(i);
  {
    const QSignalBlocker b(table_);
    table_->selectRow(i);
  }
  if (!large_) return;
  ViewContent c;
  c.color = kSims;
  c.wrap_texts = true;  // every number with its interval, on as many lines as the view's width needs
  c.title = QString("ω = %1").arg(r.omega);
  const QString dname = metric_name(result_.metric, result_.features);
  // Every number with its 95 % interval, as in the table: the distance and precision/recall above the samples,
  // the attribute shares (Wilson) in the footer, where the line has room.
  c.subtitle = QString("%1 %2 · precision %3 · recall %4")
                   .arg(dname, with_ci(r.value, r.value_lo, r.value_hi), with_ci(r.precision, r.precision_lo, r.precision_hi, 3),
                        with_ci(r.recall, r.recall_lo, r.recall_hi, 3));
  if (const QString kid = kid_text(r); !kid.isEmpty()) c.subtitle += " · " + kid;
  QString shares;
  const int64_t n_row = samples_per_row();
  for (size_t k = 0; k < r.ratios.size() && k < result_.attr_names.size(); ++k) {
    const metrics::Estimate e = metrics::share_interval(r.ratios[k], n_row);
    shares += QString::fromStdString(result_.attr_names[k]) + " " + with_bounds(r.ratios[k], e.lo, e.hi) + " · ";
  }
  const bool images = shape_.size() == 3;
  c.samples = to_set(r.kept, images ? 36 : 2000);
  if (!images) {
    c.reference = real_points_;
    c.bounds = bounds_.isValid() ? bounds_ : bounds_of({&c.samples});
  }
  c.footer = QString("%1 of %2 %3 shown · NFE %4 · grey: real data").arg(c.samples.count()).arg(n_row)
                 .arg(images ? "images" : "points").arg(r.nfe);
  if (images) c.footer = shares + QString("%1 of the %2 images · NFE %3").arg(c.samples.count()).arg(n_row).arg(r.nfe);
  large_->set_content(c);
}

int64_t SweepView::samples_per_row() const { return plan_n_ > 0 ? plan_n_ : n_->value(); }

// [SECTION] Exports ------------------------------------------------------------------------

std::vector<const AnalysisChart*> SweepView::export_charts() const {
  std::vector<const AnalysisChart*> out{dist_chart_, pr_chart_};
  if (!result_.attr_names.empty()) out.push_back(ratio_chart_);
  return out;
}

}  // namespace sims::ui
