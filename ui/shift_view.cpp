#include "common/paths.hpp"
#include "theme.hpp"
#include "wrap_label.hpp"
#include "shift_view.hpp"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>

#include <QComboBox>
#include <QDir>
#include <QDoubleSpinBox>
#include <QFile>
#include <QFileDialog>
#include <QFileInfo>
#include <QGridLayout>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QLineEdit>
#include <QLocale>
#include <QPainter>
#include <QPushButton>
#include <QSettings>
#include <QSpinBox>
#include <QSplitter>
#include <QStandardPaths>
#include <QTableWidget>
#include <QVBoxLayout>

#include "analysis_chart.hpp"
#include "common/error.hpp"
#include "message_area.hpp"
#include "metrics/features.hpp"
#include "sweep_view.hpp"  // parse_omega_list
#include "common/device.hpp"
#include "loops/text_format.hpp"

namespace sims::ui {

namespace {

namespace fs = std::filesystem;
using nlohmann::json;

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

const QColor kShare(60, 100, 170), kTarget(214, 82, 48), kAuxSet(120, 120, 130), kGroup1(200, 120, 30),
    kGroup0(60, 150, 90), kTargetMix(150, 80, 170);

QString pct(double v, int digits = 1) { return std::isfinite(v) ? QString::number(100 * v, 'f', digits) + " %" : "–"; }

// A share of n1 in n with its 95 % Wilson interval, in percent: "52.0 [47.7, 56.3] %" (`share`: the value shown,
// NaN: n1 / n).
QString share_pct(int64_t n1, int64_t n, double share = std::numeric_limits<double>::quiet_NaN()) {
  if (std::isnan(share)) share = n > 0 ? static_cast<double>(n1) / static_cast<double>(n) : share;
  if (!std::isfinite(share) || n <= 0) return pct(share);
  const metrics::Estimate p = metrics::proportion(n1, n);
  return QString::fromStdString(metrics::Estimate::of(100 * share, 100 * p.lo, 100 * p.hi).bounds_text(1)) + " %";
}
QString num(double v, int digits = 4) { return std::isfinite(v) ? QString::number(v, 'g', digits) : QString("–"); }
// "84.2 ± 3.1" (the 95 % bootstrap interval's half-width), or the value alone for older run folders.
// A row's value to its interval's precision ("89 ± 18", "0.94 ± 0.02"), as the other tabs' tables write them.
QString fd_cell(const sims::loops::ShiftRow& x, const char* key, int most = 10) {
  const sims::metrics::Estimate e = x.estimate(key);
  return AnalysisTab::with_ci(e.value, e.lo, e.hi, most);
}
// The row's KID for a tooltip: "KID 0.0123 [0.00812, 0.0164] (…)" as sims shift's column writes it; empty without.
QString kid_tip(const sims::loops::ShiftRow& x) {
  if (!std::isfinite(x.kid)) return {};
  const sims::metrics::Estimate e = x.estimate("kid");
  return "KID " + QString::fromStdString(sims::loops::text::with_bounds(x.kid, e.lo, e.hi)) +
         (e.has_interval() ? " (unbiased MMD², lower is better; 95 % interval from disjoint subsets of the samples)"
                           : " (unbiased MMD², lower is better; no interval: fewer than 20 samples, or an older run)");
}
QString count(int64_t n) { return QLocale(QLocale::English).toString(static_cast<qlonglong>(n)); }

// Source-tree paths are shown relative to it ("docs/repro/shift").
QString short_path(const QString& p) {
  const QString root = QDir(QString::fromStdString(sims::data_dir())).absolutePath() + "/";
  return p.startsWith(root) ? p.mid(root.size()) : QDir::toNativeSeparators(p);
}

// An image scaled to fit its widget (aspect kept), or a grey note when empty.
class FitImage final : public QWidget {
 public:
  explicit FitImage(QWidget* parent) : QWidget(parent) { setMinimumSize(160, 120); }
  void set(const QImage& img, const QString& note) {
    img_ = img;
    note_ = note;
    update();
  }
  const QImage& image() const { return img_; }

 protected:
  void paintEvent(QPaintEvent*) override {
    QPainter p(this);
    p.fillRect(rect(), screen_colours().frame);
    if (img_.isNull()) {
      p.setPen(screen_colours().footnote);
      p.drawText(rect().adjusted(8, 8, -8, -8), Qt::AlignCenter | Qt::TextWordWrap, note_);
      return;
    }
    const QSize s = img_.size().scaled(size(), Qt::KeepAspectRatio);
    const QRect r(QPoint((width() - s.width()) / 2, (height() - s.height()) / 2), s);
    p.setRenderHint(QPainter::SmoothPixmapTransform, true);
    p.drawImage(r, img_);
  }

 private:
  QImage img_;
  QString note_;
};

// [SECTION] The job's progress ----------------------------------------------------------------
// One bar over the whole recipe: each stage gets a share proportional to its
// rough cost in network evaluations (a training image ≈ 5 sampling evaluations
// on a CPU: forward, backward, optimiser).

struct StageCosts {
  std::vector<std::pair<std::string, double>> stages;  // in run order
  double total = 0;
};

StageCosts stage_costs(const loops::ShiftConfig& c) {
  const double nfe = 2.0 * c.sampler.steps - 1, eval_nfe = 2.0 * c.eval_sampler.steps - 1;
  const double sample = 1.2 * static_cast<double>(c.n_aux) * nfe;
  double sweep = 0;
  for (double w : c.omegas) sweep += static_cast<double>(c.n_eval) * (w == 0 ? eval_nfe : 2 * eval_nfe);
  StageCosts s;
  s.stages = {{"sample", sample},
              {"label", 0.03 * sample},
              {"select", 0.0},
              {"finetune", 5.0 * static_cast<double>(c.finetune.budget)},
              {"sweep", sweep}};
  for (const auto& st : s.stages) s.total += st.second;
  s.stages.emplace_back("write", 0.005 * s.total);
  s.total *= 1.005;
  return s;
}

double overall_fraction(const StageCosts& s, const experiment::Progress& p) {
  double before = 0;
  for (const auto& st : s.stages) {
    if (st.first == p.stage) {
      const double f = p.total > 0 ? std::clamp(static_cast<double>(p.done) / static_cast<double>(p.total), 0.0, 1.0) : 0.0;
      return std::clamp((before + f * st.second) / s.total, 0.0, 1.0);
    }
    before += st.second;
  }
  return 0;
}

std::string stage_words(const std::string& stage) {
  if (stage == "sample") return "sampling the base";
  if (stage == "label") return "labelling";
  if (stage == "select") return "auxiliary set";
  if (stage == "finetune") return "fine-tuning the auxiliary";
  if (stage == "sweep") return "ω sweep";
  if (stage == "write") return "writing results";
  return stage;
}

// The rows a run folder holds so far (eval/omega_*.json, in the order of the
// configuration's ω list) and its auxiliary set's counts: what a running or
// cancelled run can show. Unreadable files are skipped.
ShiftShown partial_results(const std::string& dir, const loops::ShiftConfig& cfg) {
  ShiftShown s;
  s.finished = false;
  s.folder = QString::fromStdString(dir);
  try {
    loops::ShiftFolder f = loops::read_shift_folder(dir);  // the core reads run folders, not the face
    s.result = std::move(f.result);
    s.classifier = QString::fromStdString(f.classifier);
  } catch (const Error&) {
    // nothing readable yet
  }
  s.result.attribute = cfg.attribute;
  s.result.target = cfg.target;
  std::vector<loops::ShiftRow> rows;
  for (const auto& r : s.result.rows)
    if (std::find(cfg.omegas.begin(), cfg.omegas.end(), r.omega) != cfg.omegas.end()) rows.push_back(r);
  s.result.rows = std::move(rows);
  s.finished = false;
  return s;
}

}  // namespace

QString shift_example_folder() { return QDir(QString::fromStdString(sims::data_path("docs/repro/shift"))).absolutePath(); }

// [SECTION] Reading a run folder --------------------------------------------------------------

bool read_shift_results(const QString& dir, ShiftShown* out, QString* error) {
  auto fail = [&](const QString& m) {
    if (error) *error = m;
    return false;
  };
  if (dir.trimmed().isEmpty()) return fail("no folder given");
  loops::ShiftFolder f;
  try {
    f = loops::read_shift_folder(QDir(dir).absolutePath().toStdString());
  } catch (const Error& e) {
    return fail(QString::fromStdString(e.what()));
  }
  if (!f.finished)
    return fail(QString("'%1' holds an unfinished shift run (no results.json yet): choose it as the run folder and "
                        "Run to continue it")
                    .arg(dir));
  ShiftShown s;
  s.result = std::move(f.result);
  s.classifier = QString::fromStdString(f.classifier);
  s.config = f.config;
  s.folder = QDir(dir).absolutePath();
  s.finished = true;
  s.example = s.folder == shift_example_folder();
  *out = std::move(s);
  return true;
}

QString ShiftView::export_caption() const {
  // From the run's own configuration (results.json), else from the settings it ran with.
  loops::ShiftConfig c = hidden_;
  if (shown_.config.is_object()) {
    try {
      c = loops::ShiftConfig::from_json(shown_.config);
    } catch (const Error&) {
      return "shift run in " + shown_.folder + " (its configuration cannot be read)";
    }
  }
  return QString::fromStdString(loops::shift_caption(c)) + " · run folder " + QFileInfo(shown_.folder).fileName();
}

// [SECTION] The view --------------------------------------------------------------------------

ShiftView::ShiftView(MessageArea* messages, QWidget* parent)
    : AnalysisTab({"shift", "Distribution shift (SIMS Sec. 4.3): move an attribute's share towards a target", "Run shift",
                   "nothing to export yet: run the shift or load a run folder first",
                   "Export the table as CSV (results.csv columns)", 420},
                  messages, parent) {
  QWidget* box = form_box();
  auto file_row = [&](QLineEdit* e, const QString& title, bool folder) {
    auto* w = new QWidget(box);
    auto* h = new QHBoxLayout(w);
    h->setContentsMargins(0, 0, 0, 0);
    h->setSpacing(2);
    h->addWidget(e, 1);
    auto* b = new QPushButton("…", w);
    b->setFixedWidth(28);
    b->setToolTip("Browse");
    h->addWidget(b);
    // A long path shows its end (the file's name); the tooltip gives it whole under the field's description.
    const QString what = e->toolTip();
    connect(e, &QLineEdit::textChanged, e, [e, what](const QString& t) {
      e->setToolTip(t.trimmed().isEmpty() ? what : what + "\n" + t.trimmed());
    });
    connect(b, &QPushButton::clicked, this, [this, e, title, folder] {
      const QString now = e->text().trimmed();
      const QString got = folder ? QFileDialog::getExistingDirectory(this, title, now)
                                 : QFileDialog::getOpenFileName(this, title, QFileInfo(now).absolutePath(),
                                                                "sims checkpoints (*.ckpt);;All files (*)");
      if (got.isEmpty()) return;
      e->setText(got);
      Q_EMIT e->editingFinished();
    });
    return w;
  };
  base_ = new QLineEdit(box);
  base_->setObjectName("shiftBase");
  base_->setToolTip("The base model: a sims checkpoint of an image model (it is fine-tuned into the auxiliary)");
  classifier_ = new QLineEdit(box);
  classifier_->setObjectName("shiftClassifier");
  classifier_->setToolTip("Attribute classifier; also the feature network for FD (a faces CNN checkpoint or TorchScript)");
  attribute_ = new QComboBox(box);
  attribute_->setObjectName("shiftAttribute");
  attribute_->setEditable(true);
  attribute_->setToolTip("The classifier's attribute whose share is shifted");
  target_ = new QDoubleSpinBox(box);
  target_->setObjectName("shiftTarget");
  target_->setRange(0.01, 0.99);
  target_->setDecimals(2);
  target_->setSingleStep(0.05);
  target_->setToolTip("Wanted share of attribute = 1 among the samples; the auxiliary set gets the complement share");
  n_aux_ = new QSpinBox(box);
  n_aux_->setObjectName("shiftNAux");
  n_aux_->setRange(2, 10000000);
  n_aux_->setSingleStep(100);
  n_aux_->setToolTip("Images in the auxiliary set (base samples at the complement of the target share)");
  budget_ = new QSpinBox(box);
  budget_->setObjectName("shiftBudget");
  budget_->setRange(1, 2000000000);
  budget_->setSingleStep(1000);
  budget_->setToolTip("Fine-tuning budget of the auxiliary, in images seen");
  omegas_ = new QLineEdit(box);
  omegas_->setObjectName("shiftOmegas");
  omegas_->setToolTip("Comma-separated guidance weights; D = (1+ω)·D_base − ω·D_aux; ω = 0 is the base, −1 the auxiliary");
  n_eval_ = new QSpinBox(box);
  n_eval_->setObjectName("shiftNEval");
  n_eval_->setRange(2, 10000000);
  n_eval_->setSingleStep(100);
  n_eval_->setToolTip("Samples per ω (the same starting noise for every ω)");
  steps_ = new QSpinBox(box);
  steps_->setObjectName("shiftSteps");
  steps_->setRange(2, 256);
  steps_->setToolTip("Heun steps for the base samples and the sweep");
  folder_ = new QLineEdit(box);
  folder_->setObjectName("shiftFolder");
  folder_->setToolTip("Run folder: every finished stage is kept here; running again with the same folder continues "
                      "(changed settings redo their stage and the later ones)");

  add_field("base model", file_row(base_, "Base model (sims image checkpoint)", false));
  add_field("classifier", file_row(classifier_, "Attribute classifier / feature net", false));
  add_field("attribute", attribute_);
  add_field("target share", target_);
  add_field("aux set size", n_aux_);
  add_field("fine-tune budget", budget_);
  add_field("Heun steps", steps_);
  add_field("samples per ω", n_eval_);
  add_field("ω values", omegas_);
  add_field("run folder", file_row(folder_, "Shift run folder", true));

  jobs()->set_cancel_text("Cancelling… (finished stages are kept)");
  jobs()->set_progress_text([](const engine::JobProgress& p) { return progress_line(p, true); });
  cancel_button()->setToolTip("Stop; finished stages stay in the run folder and Run continues from them");
  load_ = new QPushButton("Load results…", this);
  load_->setObjectName("shiftLoad");
  load_->setToolTip("Show a finished run folder's results.json without running anything");
  add_action(load_);
  jobs()->lock_while_running({load_});

  source_ = new QLabel(this);
  source_->setObjectName("shiftSource");
  source_->setWordWrap(true);
  source_->setTextFormat(Qt::RichText);
  body()->addWidget(source_);
  summary_ = new WrapLabel(this);
  summary_->setObjectName("shiftSummary");
  summary_->setTextFormat(Qt::RichText);
  body()->addWidget(summary_);

  // Charts side by side | the run's samples; the table below.
  auto* charts = new QWidget(this);
  auto* ch = new QHBoxLayout(charts);
  ch->setContentsMargins(0, 0, 0, 0);
  ch->setSpacing(4);
  share_chart_ = new AnalysisChart("Share of group = 1 vs ω", "guidance ω  (○: the base)", "share",
                                   charts);
  share_chart_->setObjectName("shiftShareChart");
  share_chart_->set_y_include(0, 1);
  fd_chart_ = new AnalysisChart("FD vs ω: overall and per group", "guidance ω  (○: the base)", "FD",
                                charts);
  fd_chart_->setObjectName("shiftFdChart");
  share_chart_->align_with(fd_chart_);  // side by side: their plot areas line up
  fd_chart_->set_y_include(0, 0);
  ch->addWidget(share_chart_, 1);
  ch->addWidget(fd_chart_, 1);

  auto* samples_box = new QWidget(this);
  auto* sv = new QVBoxLayout(samples_box);
  sv->setContentsMargins(0, 0, 0, 0);
  sv->setSpacing(2);
  samples_caption_ = new QLabel(samples_box);
  samples_caption_->setWordWrap(true);
  set_tone(samples_caption_, Tone::Muted);
  samples_ = new FitImage(samples_box);
  samples_->setObjectName("shiftSamples");
  sv->addWidget(samples_, 1);
  sv->addWidget(samples_caption_);

  auto* middle = new QSplitter(Qt::Horizontal, this);
  middle->setChildrenCollapsible(false);
  middle->addWidget(charts);
  middle->addWidget(samples_box);
  middle->setStretchFactor(0, 3);
  middle->setStretchFactor(1, 1);
  middle->setSizes({860, 300});

  table_ = make_table(90);
  table_->verticalHeader()->setDefaultSectionSize(fontMetrics().height() + 6);

  auto* split = new QSplitter(Qt::Vertical, this);
  split->setChildrenCollapsible(false);
  split->addWidget(middle);
  split->addWidget(table_);
  split->setStretchFactor(0, 3);
  split->setStretchFactor(1, 1);
  split->setSizes({400, 215});
  body()->addWidget(split, 1);

  connect(load_, &QPushButton::clicked, this, &ShiftView::load_dialog);
  connect(classifier_, &QLineEdit::editingFinished, this, &ShiftView::fill_attributes);
  for (QLineEdit* e : {base_, classifier_, omegas_, folder_}) connect(e, &QLineEdit::textChanged, this, &ShiftView::describe);
  for (QSpinBox* s : {n_aux_, budget_, n_eval_, steps_}) connect(s, qOverload<int>(&QSpinBox::valueChanged), this, &ShiftView::describe);
  connect(target_, qOverload<double>(&QDoubleSpinBox::valueChanged), this, &ShiftView::describe);
  connect(attribute_, &QComboBox::currentTextChanged, this, &ShiftView::describe);

  // Defaults: the README's `sims shift` example on the shipped faces models.
  loops::ShiftConfig c;
  c.base = sims::asset_path("models/faces-base.ckpt");
  c.classifier = sims::asset_path("models/faces-cnn.ckpt");
  c.attribute = "group";
  c.target = 0.7;
  c.n_aux = 2000;
  c.finetune.budget = 20000;
  c.omegas = {-1, 0, 1, 1.5, 2};
  c.n_eval = 500;
  set_config(c);
  set_run_folder(QStandardPaths::writableLocation(QStandardPaths::AppDataLocation) + "/shift-run");
  set_samples(QImage(), "The run's samples (samples.png) appear here.");
  source_->setText("No results yet: Run the recipe, or Load results… of a run folder.");
  connect(ThemeSignals::instance(), &ThemeSignals::changed, this, [this] {
    describe();
    if (!source_->styleSheet().isEmpty()) style_source();
  });
}

void ShiftView::showEvent(QShowEvent* e) {
  QWidget::showEvent(e);
  if (!first_show_) return;
  first_show_ = false;
  fill_attributes();
  // Something to look at before anything ran: the committed miniature, labelled as such.
  if (!has_results() && !running() && QFileInfo::exists(shift_example_folder() + "/results.json"))
    load_results(shift_example_folder());
}

// [SECTION] Controls ---------------------------------------------------------------------------

loops::ShiftConfig ShiftView::config() const {
  loops::ShiftConfig c = hidden_;
  c.base = base_->text().trimmed().toStdString();
  c.classifier = classifier_->text().trimmed().toStdString();
  c.attribute = attribute_->currentText().trimmed().toStdString();
  c.target = target_->value();
  c.n_aux = n_aux_->value();
  c.finetune.budget = budget_->value();
  c.n_eval = n_eval_->value();
  c.sampler.steps = c.eval_sampler.steps = steps_->value();
  c.omegas = parse_omega_list(omegas_->text().toStdString());
  return c;
}

void ShiftView::set_config(const loops::ShiftConfig& c) {
  hidden_ = c;
  base_->setText(QString::fromStdString(c.base));
  classifier_->setText(QString::fromStdString(c.classifier));
  const QString attr = QString::fromStdString(c.attribute);
  if (attribute_->findText(attr) < 0) attribute_->addItem(attr);
  attribute_->setCurrentText(attr);
  target_->setValue(c.target);
  n_aux_->setValue(static_cast<int>(std::min<int64_t>(c.n_aux, n_aux_->maximum())));
  budget_->setValue(static_cast<int>(std::min<int64_t>(c.finetune.budget, budget_->maximum())));
  n_eval_->setValue(static_cast<int>(std::min<int64_t>(c.n_eval, n_eval_->maximum())));
  steps_->setValue(c.eval_sampler.steps);
  QStringList w;
  for (double x : c.omegas) w << QString::number(x);
  omegas_->setText(w.join(", "));
  if (!first_show_) fill_attributes();
  describe();
}

QString ShiftView::run_folder() const { return folder_->text().trimmed(); }
void ShiftView::set_run_folder(const QString& dir) { folder_->setText(dir); }

void ShiftView::fill_attributes() {
  const QString spec = classifier_->text().trimmed();
  if (spec == classifier_filled_ || spec.isEmpty()) return;
  classifier_filled_ = spec;
  QStringList names;
  try {
    const metrics::ClassifierPtr clf = metrics::load_classifier(spec.toStdString());  // outlives the loop
    for (const auto& n : clf->attr_names()) names << QString::fromStdString(n);
  } catch (const std::exception&) {
    return;  // the run says what is wrong with it; the box keeps what it had
  }
  const QString keep = attribute_->currentText();
  attribute_->clear();
  attribute_->addItems(names);
  attribute_->setCurrentText(names.contains(keep) || names.isEmpty() ? keep : names.front());
}

void ShiftView::describe() {
  QString text;
  try {
    const loops::ShiftConfig c = config();
    const QString attr = QString::fromStdString(c.attribute).toHtmlEscaped();
    text = QString("Samples the base, labels the samples with the classifier, fine-tunes the auxiliary for %1 images on "
                   "%2 of them at the <i>complement</i> share (%3 %4 = 1 for a %5 target), then draws %6 samples per "
                   "ω for %7 ω values: share of %4 = 1, FD overall and per group. The committed example (2,000 / 20k / "
                   "7 × 500) took 23 min on 2 CPU cores.")
               .arg(count(c.finetune.budget), count(c.n_aux), pct(1 - c.target, 0), attr, pct(c.target, 0),
                    count(c.n_eval))
               .arg(c.omegas.size());
  } catch (const Error& e) {
    text = toned(QString(e.what()).toHtmlEscaped(), Tone::Error);
  }
  about()->setText(text);
}

void ShiftView::set_samples(const QImage& img, const QString& caption) {
  static_cast<FitImage*>(samples_)->set(img, caption);
  samples_caption_->setText(img.isNull() ? QString() : caption);
}

// [SECTION] Running ----------------------------------------------------------------------------

engine::JobFn ShiftView::prepare_job() {
  const QString dir = run_folder();
  const loops::ShiftConfig cfg = config();
  if (dir.isEmpty()) throw InputError("choose a run folder");
  if (QDir(dir).absolutePath() == shift_example_folder())
    throw InputError("docs/repro/shift holds the committed example; choose another run folder");
  if (!QFileInfo::exists(QString::fromStdString(cfg.base)))
    throw InputError("the base model '" + cfg.base + "' does not exist");
  loops::validate(cfg);
  hidden_ = cfg;
  running_dir_ = dir;
  ShiftShown empty;
  empty.finished = false;
  empty.folder = QDir(dir).absolutePath();
  empty.result.attribute = cfg.attribute;
  empty.result.target = cfg.target;
  show_results(empty);
  messages()->info(QString("shift: %1 → %2 of %3 = 1, ω %4, %5 samples per ω; run folder %6")
                       .arg(QFileInfo(base_->text()).fileName(), pct(cfg.target, 0),
                            QString::fromStdString(cfg.attribute), omegas_->text())
                       .arg(cfg.n_eval)
                       .arg(dir));

  auto post_rows = on_ui<ShiftShown>([this](const ShiftShown& partial) { on_rows(partial); });
  auto post_note = on_ui<std::string>([this](const std::string& note) {
    messages()->info("shift: " + QString::fromStdString(note));
  });
  const std::string out = dir.toStdString();
  const StageCosts costs = stage_costs(cfg);
  const c10::Device device = face_device();  // the device when the job starts, for all its stages
  return [cfg, out, costs, post_rows, post_note, device](engine::JobContext& ctx) -> std::any {
    loops::ShiftRunOptions o;
    o.device = device;
    o.out_dir = out;
    o.cancel = ctx.cancel_flag();
    o.on_note = post_note;
    double shown = 0;  // the bar never runs backwards (a second sampling round restarts its count)
    int64_t rows_seen = -1;
    o.on_progress = [&](const experiment::Progress& p) {
      shown = std::max(shown, overall_fraction(costs, p));
      ctx.progress(shown, stage_words(p.stage) + ": " + p.message);
      // Each finished ω row (and those a continued run reuses) shows at once.
      if (p.stage == "sweep" && p.done != rows_seen) {
        rows_seen = p.done;
        post_rows(partial_results(out, cfg));
      }
    };
    loops::run_shift(cfg, o);
    return {};  // the results are read back from the run folder's results.json
  };
}

void ShiftView::on_rows(const ShiftShown& partial) {
  if (!running()) return;
  show_results(partial);
}

void ShiftView::job_ended(engine::JobState s) {
  const QString& dir = running_dir_;
  if (s == engine::JobState::Cancelled) {
    set_status(QString("Cancelled after %1 ω values; finished stages are kept: Run again with this folder to continue")
                   .arg(shown_.result.rows.size()));
    messages()->warning("shift cancelled; finished stages are kept in " + dir);
    return;
  }
  ShiftShown r;
  QString err;
  if (read_shift_results(dir, &r, &err)) {
    show_results(r);
    set_status(QString("Done: %1 ω values").arg(r.result.rows.size()));
    messages()->info(QString("shift finished: results in %1").arg(dir));
  } else {
    set_status("Done, but the results cannot be read: " + err);
    messages()->error("shift: " + err);
  }
}

// [SECTION] Results ----------------------------------------------------------------------------

bool ShiftView::load_results(const QString& dir) {
  ShiftShown r;
  QString err;
  if (!read_shift_results(dir, &r, &err)) {
    messages()->error("shift results: " + err);
    return false;
  }
  // A run folder (run.json beside the results) fills the form, so Run continues it. A copy of the results (the
  // committed example) fills the experiment's settings but keeps the form's models and run folder (the paths it
  // records are those of the machine that ran it): the form never shows other settings beside the results.
  QString form_note;
  if (r.config.is_object()) {
    try {
      loops::ShiftConfig c = loops::ShiftConfig::from_json(r.config);
      if (QFileInfo::exists(QDir(r.folder).filePath("run.json"))) {
        set_config(c);
        set_run_folder(r.folder);
        form_note = "; the form now holds its settings";
      } else {
        c.base = base_->text().trimmed().toStdString();
        c.classifier = classifier_->text().trimmed().toStdString();
        c.features = hidden_.features, c.real_data = hidden_.real_data;  // paths too, not in the form
        set_config(c);
        form_note = "; the form now holds its settings, with your models and run folder";
      }
    } catch (const Error&) {
    }
  }
  show_results(r);
  set_status(QString("Loaded %1 ω values").arg(r.result.rows.size()));
  messages()->info(QString("shift: showing %1 ω values from %2%3%4")
                      .arg(r.result.rows.size())
                      .arg(short_path(r.folder), r.example ? " (the committed example)" : "", form_note));
  return true;
}

void ShiftView::show_results(const ShiftShown& s) {
  shown_ = s;
  const loops::ShiftResult& r = shown_.result;
  const QString attr = QString::fromStdString(r.attribute.empty() ? std::string("group") : r.attribute);
  const QString fd_name = r.features.empty() ? QString("FD") : "FD_" + QString::fromStdString(r.features);
  const bool has_base = std::any_of(r.rows.begin(), r.rows.end(), [](const loops::ShiftRow& x) { return x.omega == 0; });
  double w0 = INFINITY, w1 = -INFINITY;
  for (const auto& x : r.rows) w0 = std::min(w0, x.omega), w1 = std::max(w1, x.omega);
  if (!(w1 > w0)) w0 = std::isfinite(w0) ? w0 - 0.5 : -1, w1 = std::isfinite(w1) ? w1 + 0.5 : 3;
  // Reference lines run a little past the data, edge to edge (and never through the ring at ω = 0).
  const double pad = 0.04 * (w1 - w0);
  w0 -= pad, w1 += pad;

  // Share vs ω: generated, target and auxiliary-set share (dashed).
  share_chart_->clear();
  share_chart_->set_title(QString("Share of %1 = 1 vs ω (bars: 95 % Wilson intervals)").arg(attr));
  share_chart_->set_y_title(shown_.classifier.isEmpty() ? QString("share of %1 = 1").arg(attr)
                                                         : QString("share (%1)").arg(shown_.classifier));
  const int gen = share_chart_->add_series("generated", kShare);
  for (const auto& x : r.rows) {
    const metrics::Estimate e = metrics::proportion(x.n1, x.n1 + x.n0);
    share_chart_->append(gen, x.omega, x.share, e.lo, e.hi);
  }
  if (std::isfinite(r.target)) {
    const int t = share_chart_->add_series("target " + pct(r.target, 0), kTarget, true);
    share_chart_->append(t, w0, r.target);
    share_chart_->append(t, w1, r.target);
  }
  if (r.aux1 + r.aux0 > 0) {
    const double a = static_cast<double>(r.aux1) / static_cast<double>(r.aux1 + r.aux0);
    const int t = share_chart_->add_series("aux set " + pct(a, 0), kAuxSet, true);
    share_chart_->append(t, w0, a);
    share_chart_->append(t, w1, a);
  }
  share_chart_->set_highlight(has_base ? 0.0 : kNaN);

  // FD vs ω: overall, against the real set at the target mix, per group.
  fd_chart_->clear();
  fd_chart_->set_title(fd_name + " vs ω: overall and per group; lower is better (bars: 95 % bootstrap intervals)");
  fd_chart_->set_y_title(fd_name);  // a longer axis title is elided at 720 lines
  struct Line {
    QString name;
    QColor colour;
    bool dashed;
    const char* key;
  };
  const Line lines[] = {
      {"overall", kShare, false, "fd"},
      {"vs target mix", kTargetMix, true, "fd_target"},
      {QString("%1 = 1").arg(attr), kGroup1, false, "fd1"},
      {QString("%1 = 0").arg(attr), kGroup0, false, "fd0"},
  };
  for (const auto& l : lines) {
    const int k = fd_chart_->add_series(l.name, l.colour, l.dashed);
    for (const auto& x : r.rows) {
      const metrics::Estimate e = x.estimate(l.key);
      fd_chart_->append(k, x.omega, e.value, e.lo, e.hi);
    }
  }
  fd_chart_->set_highlight(has_base ? 0.0 : kNaN);

  // Table: two-line headers, so the numbers set the columns' widths (at 1280×720 every column fits); the share with
  // its 95 % Wilson interval, the counts and the time in tooltips.
  const QStringList cols{"ω",
                         QString("share\n%1 = 1").arg(attr),
                         "FD\noverall",
                         "FD at\ntarget mix",
                         QString("FD\n%1 = 1").arg(attr),
                         QString("FD\n%1 = 0").arg(attr),
                         "precision",
                         "recall",
                         "NFE"};
  table_->clear();
  table_->setColumnCount(static_cast<int>(cols.size()));
  table_->setHorizontalHeaderLabels(cols);
  table_->horizontalHeaderItem(1)->setToolTip(QString("Share of samples the classifier puts in %1 = 1, with its 95 % "
                                                      "Wilson interval over the samples").arg(attr));
  table_->horizontalHeaderItem(2)->setToolTip(fd_name + " of all samples against the real images as given; lower is better");
  table_->horizontalHeaderItem(3)->setToolTip(fd_name + " against the real images re-balanced to the target share");
  table_->horizontalHeaderItem(4)->setToolTip(fd_name + " of the samples in group 1 against the real images of group 1");
  table_->horizontalHeaderItem(5)->setToolTip(fd_name + " of the samples in group 0 against the real images of group 0");
  table_->horizontalHeaderItem(6)->setToolTip("Share of samples inside the real manifold (k-NN balls in feature space); "
                                              "higher is better; ± 95 % bootstrap over the samples");
  table_->horizontalHeaderItem(7)->setToolTip("Share of real images inside the samples' manifold; higher is better; "
                                              "± 95 % bootstrap over the real images");
  table_->setRowCount(static_cast<int>(r.rows.size()));
  for (size_t i = 0; i < r.rows.size(); ++i) {
    const loops::ShiftRow& x = r.rows[i];
    QString w = QString::number(x.omega);
    if (x.omega == 0) w += "  (base)";
    else if (x.omega == -1) w += "  (aux)";
    const QStringList cells{w,
                            share_pct(x.n1, x.n1 + x.n0, x.share),
                            fd_cell(x, "fd"),
                            fd_cell(x, "fd_target"),
                            fd_cell(x, "fd1"),
                            fd_cell(x, "fd0"),
                            fd_cell(x, "precision", 3),
                            fd_cell(x, "recall", 3),
                            x.nfe > 0 ? QString::number(x.nfe) : QString("–")};
    const QStringList tips{x.seconds > 0 ? QString("sampled and scored in %1 s").arg(x.seconds, 0, 'f', 1) : QString(),
                           QString("%1 of %2 samples in %3 = 1, %4 in %3 = 0")
                               .arg(x.n1).arg(x.n1 + x.n0).arg(attr).arg(x.n0),
                           // KID, the unbiased distance, with its interval as sims shift's table writes it.
                           kid_tip(x)};
    for (int c = 0; c < cells.size(); ++c) {
      auto* item = new QTableWidgetItem(cells[c]);
      if (c < tips.size() && !tips[c].isEmpty()) item->setToolTip(tips[c]);
      item->setTextAlignment((c == 0 ? Qt::AlignLeft : Qt::AlignRight) | Qt::AlignVCenter);
      if (x.omega == 0) {
        QFont f = item->font();
        f.setBold(true);
        item->setFont(f);
      }
      table_->setItem(static_cast<int>(i), c, item);
    }
  }

  // Summary: where the share starts, how close it gets, where FD is lowest. The metric's name never breaks at its
  // hyphen (FD_cnn-faces: U+2011); negative numbers carry a minus sign (U+2212).
  const QString fd_label = QString(fd_name).replace('-', QChar(0x2011));
  const auto minus = [](QString t) { return t.replace('-', QChar(0x2212)); };
  const auto omega_text = [&](double w) { return minus(QString::number(w)); };
  QStringList parts;
  for (const auto& x : r.rows)
    if (x.omega == 0) parts << QString("<b>base</b> (ω = 0): %1 %2 = 1").arg(pct(x.share), attr);
  // The guided ω closest to the target, as sims shift's verdict picks it, with the change from ω = 0: paired
  // sample by sample where the rows kept their groups.
  if (const loops::ShiftRow* best = std::isfinite(r.target) ? loops::shift_closest_row(r) : nullptr) {
    QString closest = QString("target %1: closest at ω = %2 (%3)").arg(pct(r.target, 0), omega_text(best->omega), pct(best->share));
    if (const loops::ShiftRow* zero = loops::shift_base_row(r)) {
      const metrics::Estimate c = loops::shift_change(*zero, *best);
      if (c.has_interval())
        closest += QString(", %1 from ω = 0 (95 %, paired)").arg(minus(QString::fromStdString(loops::share_change_text(c))));
      // And what the move does to quality: FD's change between the same two rows, against the real images as
      // given and against the real set at the target mix (lower is better).
      for (const auto& [key, label] : {std::pair<std::string, QString>{"fd", fd_label},
                                       {"fd_target", fd_label + " vs target mix"}}) {
        const metrics::Estimate d = loops::shift_fd_change(*zero, *best, key);
        if (std::isfinite(d.value))
          closest += QString("; %1 change there: %2 (%3lower is better)")
                         .arg(label, minus(QString::fromStdString(loops::fd_change_text(d))), d.has_interval() ? "95 %; " : "");
      }
    }
    parts << closest;
  }
  const auto low = std::min_element(r.rows.begin(), r.rows.end(), [](const loops::ShiftRow& a, const loops::ShiftRow& b) {
    return (std::isfinite(a.fd) ? a.fd : INFINITY) < (std::isfinite(b.fd) ? b.fd : INFINITY);
  });
  if (low != r.rows.end() && std::isfinite(low->fd)) {
    // Its value with its 95 % interval where the run folder has one (older ones do not).
    const auto ci = low->ci.find("fd");
    const QString v = ci == low->ci.end() ? num(low->fd) : with_ci(low->fd, ci->second.first, ci->second.second);
    parts << QString("lowest %1: ω = %2 (%3)").arg(fd_label, omega_text(low->omega), v);
  }
  if (r.aux1 + r.aux0 > 0) {
    QString a = QString("aux set %1 / %2 (%3 = 1 / 0)").arg(count(r.aux1), count(r.aux0), attr);
    if (r.n_pool > 0)
      a += QString(" of %1 base samples (%2 = 1: %3)").arg(count(r.n_pool), attr, share_pct(r.pool1, r.n_pool));
    parts << a;
  }
  summary_->set_text(parts.join(" · ").replace(" %", QString(QChar(0x00A0)) + "%"));  // a line never starts with "%"

  // Where it came from.
  const QString where = "<code>" + short_path(shown_.folder).toHtmlEscaped() + "</code>";
  if (shown_.example) {
    source_->setText("<b>Example</b>, loaded from " + where +
                     ": the committed SIMS Fig. 6 miniature (<code>tools/repro_shift.sh</code>, shipped faces U-Net, "
                     "2,000-image auxiliary set, 500 samples per ω). Nothing was run; <i>Run shift</i> starts your own "
                     "run, <i>Load results…</i> opens another run folder.");
  } else if (shown_.finished && !running()) {
    source_->setText("<b>Loaded</b> from " + where + " (results.json).");
  } else {
    source_->setText(QString("<b>Run</b> in %1: ω rows appear as they finish (%2 so far).").arg(where).arg(r.rows.size()));
  }
  style_source();

  // The run's samples.
  const QString png = QDir(shown_.folder).filePath("samples.png");
  if (shown_.finished && !shown_.folder.isEmpty() && QFileInfo::exists(png))
    set_samples(QImage(png), "samples.png: the first samples of each ω, from the same starting noise in every row");
  else
    set_samples(QImage(), shown_.finished ? QString("This folder has no samples.png.")
                                          : QString("The samples (samples.png) appear when the run finishes."));
  Q_EMIT results_shown(static_cast<int>(r.rows.size()));
}

// The source note's box: yellow for the committed example, blue for a run of the user's.
void ShiftView::style_source() {
  const Tone bg = shown_.example ? Tone::ExampleBackground : Tone::NoteBackground;
  const Tone border = shown_.example ? Tone::ExampleBorder : Tone::NoteBorder;
  source_->setStyleSheet(
      QString("background:%1; border:1px solid %2; padding:3px 6px;").arg(tone_hex(bg), tone_hex(border)));
}

void ShiftView::load_dialog() {
  QSettings s;
  QString start = s.value("shift/loadDir").toString();
  if (start.isEmpty()) start = QFileInfo::exists(shift_example_folder()) ? shift_example_folder() : run_folder();
  const QString d = QFileDialog::getExistingDirectory(this, "Open a shift run folder (with results.json)", start);
  if (d.isEmpty()) return;
  s.setValue("shift/loadDir", d);
  load_results(d);
}

}  // namespace sims::ui
