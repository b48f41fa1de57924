#include "atlas_view.hpp"

#include <algorithm>
#include <cmath>
#include <sstream>

#include <QComboBox>
#include <QLabel>
#include <QLineEdit>
#include <QMouseEvent>
#include <QPainter>
#include <QScrollArea>
#include <QSpinBox>
#include <QToolTip>
#include <QVBoxLayout>

#include "analysis_chart.hpp"
#include "common/error.hpp"
#include "experiment/settings.hpp"
#include "message_area.hpp"
#include "theme.hpp"

namespace sims::ui {

// [SECTION] The fitted image ---------------------------------------------------------------------

FittedImage::FittedImage(QWidget* parent) : QWidget(parent) {
  setMouseTracking(true);
  setMinimumHeight(120);
  setSizePolicy(QSizePolicy::Expanding, QSizePolicy::Expanding);
}

void FittedImage::set_images(std::vector<QImage> layouts) {
  layouts_ = std::move(layouts);
  chosen_ = 0;
  img_ = layouts_.empty() ? QImage() : layouts_.front();
  choose();
  updateGeometry();
  update();
}

double FittedImage::scale_of(const QImage& img) const {
  if (img.isNull()) return 1.0;
  return std::min({1.0, static_cast<double>(width()) / img.width(), static_cast<double>(height()) / img.height()});
}

void FittedImage::choose() {
  size_t best = 0;
  for (size_t i = 1; i < layouts_.size(); ++i)
    if (scale_of(layouts_[i]) > scale_of(layouts_[best]) + 1e-9) best = i;
  if (layouts_.empty() || best == chosen_) return;
  chosen_ = best;
  img_ = layouts_[best];
  update();
}

void FittedImage::resizeEvent(QResizeEvent* e) {
  QWidget::resizeEvent(e);
  choose();
}

double FittedImage::scale() const { return scale_of(img_); }

std::optional<QPoint> FittedImage::to_image(const QPoint& p) const {
  if (img_.isNull()) return std::nullopt;
  const double s = scale();
  const QPoint q(static_cast<int>(std::floor(p.x() / s)), static_cast<int>(std::floor(p.y() / s)));
  if (q.x() < 0 || q.y() < 0 || q.x() >= img_.width() || q.y() >= img_.height()) return std::nullopt;
  return q;
}

QSize FittedImage::sizeHint() const { return img_.isNull() ? QSize(400, 200) : img_.size(); }

void FittedImage::paintEvent(QPaintEvent*) {
  if (img_.isNull()) return;
  QPainter p(this);
  p.setRenderHint(QPainter::SmoothPixmapTransform, true);
  const double s = scale();
  p.drawImage(QRectF(0, 0, img_.width() * s, img_.height() * s), img_);
}

void FittedImage::mousePressEvent(QMouseEvent* e) {
  if (e->button() != Qt::LeftButton) return;
  if (const auto q = to_image(e->position().toPoint()); q && on_click) on_click(*q);
}

void FittedImage::mouseMoveEvent(QMouseEvent* e) {
  const auto q = to_image(e->position().toPoint());
  const QString tip = q && tooltip_at ? tooltip_at(*q) : QString();
  if (tip.isEmpty()) {
    QToolTip::hideText();
    unsetCursor();
  } else {
    QToolTip::showText(e->globalPosition().toPoint(), tip, this);
    setCursor(Qt::PointingHandCursor);
  }
}

// [SECTION] The tab ------------------------------------------------------------------------------

namespace {

std::string num(double v, int digits = 3) {
  if (std::isinf(v)) return v > 0 ? "beyond the largest n fitted" : "-inf";
  std::ostringstream s;
  s.precision(digits);
  s << v;
  return s.str();
}

QString join(const std::vector<double>& v) {
  QStringList out;
  for (double x : v) out << QString::fromStdString(experiment::format_real(x));
  return out.join(",");
}

QString join(const std::vector<int64_t>& v) {
  QStringList out;
  for (int64_t x : v) out << QString::number(x);
  return out.join(",");
}

std::vector<int64_t> integers(const QLineEdit* e, const std::string& what) {
  std::vector<int64_t> out;
  for (double v : experiment::parse_real_list(e->text().toStdString(), what)) {
    if (v != std::floor(v) || std::abs(v) > 1e12) throw InputError(what + " takes whole numbers, got " + experiment::format_real(v));
    out.push_back(static_cast<int64_t>(v));
  }
  return out;
}

QImage to_qimage(const render::Canvas& c) {
  QImage img(c.width(), c.height(), QImage::Format_RGB888);
  const std::vector<uint8_t>& px = c.pixels();
  for (int y = 0; y < c.height(); ++y)
    std::copy_n(px.data() + static_cast<size_t>(y) * c.width() * 3, static_cast<size_t>(c.width()) * 3, img.scanLine(y));
  return img;
}

}  // namespace

AtlasView::AtlasView(MessageArea* messages, QWidget* parent)
    : AnalysisTab({"atlas", "Where synthetic data help: MAD's effective sample size n_e / n_r (Gaussian family)",
                   "Run atlas", "nothing to export yet: run the atlas first", "Export the atlas cells as CSV", 400},
                  messages, parent) {
  QWidget* box = form_box();
  auto line = [&](const char* name, const QString& tip) {
    auto* e = new QLineEdit(box);
    e->setObjectName(name);
    e->setToolTip(tip);
    return e;
  };
  auto spin = [&](int lo, int hi, const char* name) {
    auto* s = new QSpinBox(box);
    s->setRange(lo, hi);
    s->setObjectName(name);
    return s;
  };
  kind_ = new QComboBox(box);
  kind_->setObjectName("atlasKind");
  kind_->addItem("fresh data", "fresh");
  kind_->addItem("synthetic augmentation", "augment");
  kind_->setToolTip("fresh: n_r new real samples each generation + n_s synthetic; augmentation: the first real set "
                    "kept + n_s synthetic");
  pool_ = new QComboBox(box);
  pool_->setObjectName("atlasPool");
  pool_->addItem("replace (last set)", false);
  pool_->addItem("accumulate (all sets)", true);
  n_real_ = line("atlasNReal", "Real sample sizes n_r (rows), comma-separated");
  n_synth_ = line("atlasNSynth", "Synthetic sample sizes n_s (columns), comma-separated");
  lambdas_ = line("atlasLambdas", "Sampling biases λ in (0, 1]: synthetic samples from N(μ, λΣ); one panel each");
  memory_ = line("atlasMemory", "Memories K: each synthetic sample from one of the last K fits (MAD Fig. 33); one "
                                "panel each (with one n_r and one n_s: curves over K)");
  dim_ = spin(1, 64, "atlasDim");
  generations_ = spin(2, 5000, "atlasGenerations");
  tail_ = spin(1, 5000, "atlasTail");
  tail_->setToolTip("The limit: the mean W2 over the last TAIL generations");
  runs_ = spin(10, 100000, "atlasRuns");
  seed_ = spin(0, 1 << 30, "atlasSeed");
  add_field("loop", kind_);
  add_field("pool", pool_);
  add_field("real n_r", n_real_);
  add_field("synthetic n_s", n_synth_);
  add_field("bias λ", lambdas_);
  add_field("memory K", memory_);
  add_field("dimension D", dim_);
  add_field("generations", generations_);
  add_field("limit: last", tail_);
  add_field("runs per cell", runs_);
  add_field("seed", seed_);

  figure_ = new FittedImage(this);
  figure_->setObjectName("atlasFigure");
  figure_->on_click = [this](QPoint p) {
    if (!result_) return;
    const int k = loops::atlas_cell_at(*result_, p.x(), p.y(), figure_columns());
    if (k >= 0) click_cell(static_cast<size_t>(k));
  };
  figure_->tooltip_at = [this](QPoint p) {
    if (!result_) return QString();
    const int k = loops::atlas_cell_at(*result_, p.x(), p.y(), figure_columns());
    return k < 0 ? QString() : cell_text(static_cast<size_t>(k)) + "\nClick: run this loop in the Loops tab.";
  };
  hint_ = new QLabel(this);
  hint_->setObjectName("atlasHint");
  hint_->setWordWrap(true);
  hint_->setTextFormat(Qt::RichText);  // not guessed: a "<" in the text (n_e < n_r) made Qt show the tags as text
  hint_->setText(toned("Run the atlas: one loop per cell (a few seconds for the defaults). Each cell shows n_e / n_r, "
                       "the real sample size worth as much as the loop's limit, over n_r: green (>= 1) where the "
                       "synthetic data help. Hover a cell for its numbers; click it to run that loop in the Loops tab.",
                       Tone::Muted));
  body()->addWidget(hint_);
  body()->addWidget(figure_, 1);

  for (QLineEdit* e : {n_real_, n_synth_, lambdas_, memory_}) connect(e, &QLineEdit::textChanged, this, &AtlasView::describe);
  for (QSpinBox* s : {dim_, generations_, tail_, runs_, seed_})
    connect(s, qOverload<int>(&QSpinBox::valueChanged), this, &AtlasView::describe);
  for (QComboBox* c : {kind_, pool_}) connect(c, qOverload<int>(&QComboBox::currentIndexChanged), this, &AtlasView::describe);
  loops::AtlasConfig start;
  start.n_real = {10, 30, 100, 300};
  start.n_synth = {0, 10, 30, 100, 300, 1000};
  set_config(start);
}

loops::AtlasConfig AtlasView::config() const {
  loops::AtlasConfig c;
  c.kind = loops::parse_loop_kind(kind_->currentData().toString().toStdString());
  c.accumulate = pool_->currentData().toBool();
  c.n_real = integers(n_real_, "real n_r");
  c.n_synth = integers(n_synth_, "synthetic n_s");
  c.lambdas = experiment::parse_real_list(lambdas_->text().toStdString(), "bias λ");
  c.memory = integers(memory_, "memory K");
  c.dim = dim_->value();
  c.generations = generations_->value();
  c.tail = tail_->value();
  c.runs = runs_->value();
  c.curve_runs = std::max<int64_t>(2000, c.runs);
  c.seed = static_cast<uint64_t>(seed_->value());
  return c;
}

void AtlasView::set_config(const loops::AtlasConfig& c) {
  kind_->setCurrentIndex(std::max(0, kind_->findData(QString::fromStdString(loops::to_string(c.kind)))));
  pool_->setCurrentIndex(c.accumulate ? 1 : 0);
  n_real_->setText(join(c.n_real));
  n_synth_->setText(join(c.n_synth));
  lambdas_->setText(join(c.lambdas));
  memory_->setText(join(c.memory));
  dim_->setValue(static_cast<int>(c.dim));
  generations_->setValue(static_cast<int>(c.generations));
  tail_->setValue(static_cast<int>(c.tail));
  runs_->setValue(static_cast<int>(c.runs));
  seed_->setValue(static_cast<int>(c.seed));
  describe();
}

void AtlasView::describe() {
  try {
    const loops::AtlasConfig c = config();
    loops::validate(c);
    const size_t cells = c.n_real.size() * c.n_synth.size() * c.lambdas.size() * c.memory.size();
    about()->setText(QString("<b>What runs:</b> %1 %2 loops (one per cell), %3 runs × %4 generations each, D = %5; "
                             "the limit is the mean W2 over the last %6 generations; n_e from fits to n real samples.")
                         .arg(cells)
                         .arg(QString::fromStdString(loops::to_string(c.kind)))
                         .arg(c.runs)
                         .arg(c.generations)
                         .arg(c.dim)
                         .arg(c.tail));
  } catch (const Error& e) {
    about()->setText(toned(QString(e.what()).toHtmlEscaped(), Tone::Error));
  }
}

QString AtlasView::cell_text(size_t k) const {
  const loops::AtlasCell& c = result_->cells.at(k);
  const double nr = static_cast<double>(c.n_real);
  std::ostringstream s;
  s << "λ = " << num(c.lambda) << (result_->cfg.memory.size() > 1 || c.memory > 1 ? ", K = " + std::to_string(c.memory) : "")
    << ", n_r = " << c.n_real << ", n_s = " << c.n_synth << "\nlimit W2 " << num(c.wd, 4) << " [" << num(c.wd_lo, 4)
    << ", " << num(c.wd_hi, 4) << "] (lower is better)\nn_e / n_r " << num(c.ratio()) << " [" << num(c.n_e_lo / nr)
    << ", " << num(c.n_e_hi / nr) << "] (higher is better; >= 1: admissible)"
    << (c.surely_admissible() ? "\nadmissible: the whole interval is >= 1"
                              : c.within_noise_of_one() ? "\nwithin noise of 1: the interval holds 1" : "");
  if (!c.settled) s << "\nNOT SETTLED: raise the generations";
  return QString::fromStdString(s.str());
}

LoopPlan AtlasView::plan_for_cell(size_t k) const {
  const loops::AtlasCell& c = result_->cells.at(k);
  const loops::AtlasConfig& cfg = result_->cfg;
  LoopPlan p;
  p.family = "gaussian";
  p.kind = cfg.kind;
  p.accumulate = cfg.accumulate;
  p.n_real = c.n_real;
  p.n_synth = c.n_synth;
  p.bias = c.lambda;
  p.memory = c.memory;
  p.dim = cfg.dim;
  p.generations = std::min<int64_t>(cfg.generations, 1000);  // the Loops tab's limits
  p.runs = std::min<int64_t>(cfg.runs, 1000);
  p.seed = cfg.seed + 1 + k;  // the seed the atlas ran this cell with (loops/admissibility.cpp)
  return p;
}

bool AtlasView::click_cell(size_t k) {
  if (!result_ || k >= result_->cells.size()) return false;
  const LoopPlan p = plan_for_cell(k);
  QString note;
  if (p.generations < result_->cfg.generations || p.runs < result_->cfg.runs)
    note = QString(" (capped at the Loops tab's %1 runs × %2 generations)").arg(p.runs).arg(p.generations);
  messages()->info("atlas: running the loop of cell " + cell_text(k).section('\n', 0, 0) + " in the Loops tab" + note);
  if (on_cell_) on_cell_(p);
  return true;
}

int AtlasView::figure_columns() const {
  return figure_->chosen() < layout_columns_.size() ? layout_columns_[figure_->chosen()] : 0;
}

engine::JobFn AtlasView::prepare_job() {
  const loops::AtlasConfig cfg = config();
  loops::validate(cfg);
  result_.reset();
  figure_->set_image(QImage());
  auto post = on_ui<loops::AtlasResult>([this](const loops::AtlasResult& r) { show_result(r); });
  return [cfg, post](engine::JobContext& ctx) -> std::any {
    const loops::AtlasResult r = loops::run_atlas(cfg, [&](int done, int total) {
      ctx.progress(static_cast<double>(done) / total, "cell " + std::to_string(done) + "/" + std::to_string(total));
      return !ctx.cancelled();
    });
    post(r);
    return {};
  };
}

void AtlasView::show_result(const loops::AtlasResult& r) {
  result_ = r;
  // The heat maps in one row (as the CLI draws them), then in 2, 3, ... rows, each with as few per row as that
  // many rows need: a narrow pane shows them stacked at full size rather than one row shrunk unreadable.
  const int panels = loops::atlas_panels(r.cfg);
  layout_columns_.clear();
  for (int rows = 1; rows <= std::min(panels, 12); ++rows) {
    const int cols = (panels + rows - 1) / rows;
    if (layout_columns_.empty() || cols < layout_columns_.back()) layout_columns_.push_back(cols);
  }
  if (layout_columns_.back() != 1) layout_columns_.push_back(1);
  std::vector<QImage> layouts;
  for (int cols : layout_columns_) layouts.push_back(to_qimage(loops::atlas_figure(r, cols)));
  figure_->set_images(std::move(layouts));
  // Counted as the heat map frames them: by the 95 % interval, not the point estimate.
  size_t sure = 0, noise = 0, below = 0, by_definition = 0, unsettled = 0;
  for (const auto& c : r.cells) {
    unsettled += !c.settled;
    if (c.n_synth == 0 && c.total == 0) ++by_definition;
    else if (c.surely_admissible()) ++sure;
    else if (c.within_noise_of_one()) ++noise;
    else if (c.n_e_hi < static_cast<double>(c.n_real)) ++below;  // the rest: no interval (not counted)
  }
  QString text = QString("%1 of %2 cells with synthetic data admissible (n_e ≥ n_r over the whole 95 % interval: "
                         "framed), %3 within the noise of n_e = n_r, %4 not admissible (n_e &lt; n_r over the whole "
                         "interval)")
                     .arg(sure)
                     .arg(r.cells.size() - by_definition)
                     .arg(noise)
                     .arg(below);
  text += by_definition > 0 ? QString(", %1 without synthetic data (n_e = n_r by definition).").arg(by_definition)
                            : QString(".");
  text += loops::atlas_axis(r.cfg) == loops::AtlasAxis::Grid
              ? " Hover a cell for its numbers and intervals; click it to run that loop in the Loops tab."
              : " Curves over K (one n_r and one n_s): the exported CSV has each point's numbers; heat maps (several "
                "n_r or n_s) can be hovered and clicked.";
  if (unsettled > 0)
    text += QString(" <b>%1 %2 not settled</b> (marked *): raise the generations.")
                .arg(unsettled)
                .arg(unsettled == 1 ? "cell had" : "cells had");
  hint_->setText(text);
}

void AtlasView::job_ended(engine::JobState s) {
  if (s == engine::JobState::Cancelled) {
    set_status("Cancelled");
    messages()->warning("atlas cancelled");
    return;
  }
  if (!result_) return;
  set_status(QString("Done: %1 cells").arg(result_->cells.size()));
  messages()->info(QString("atlas finished: %1 cells").arg(result_->cells.size()));
}

std::string AtlasView::results_csv() const { return result_ ? result_->to_csv() : std::string(); }

QString AtlasView::export_caption() const {
  return result_ ? QString("Gaussian family atlas, %1 loop, D = %2, seed %3")
                       .arg(QString::fromStdString(loops::to_string(result_->cfg.kind)))
                       .arg(result_->cfg.dim)
                       .arg(result_->cfg.seed)
                 : QString();
}

bool AtlasView::export_png(const QString& path) {
  QString err = "nothing to export yet: run the atlas first";
  if (result_ && save_png(path, figure_->image(), &err)) {
    messages()->info("exported " + path);
    return true;
  }
  messages()->error("atlas export: " + err);
  return false;
}

bool AtlasView::export_svg(const QString&) {
  messages()->error("atlas export: the atlas exports as PNG (the CLI's atlas.png) and CSV, not SVG");
  return false;
}

bool AtlasView::export_pdf(const QString&) {
  messages()->error("atlas export: the atlas exports as PNG (the CLI's atlas.png) and CSV, not PDF");
  return false;
}

}  // namespace sims::ui
