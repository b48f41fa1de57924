#include "models_panel.hpp"
#include "theme.hpp"

#include <QFileDialog>
#include <QFileInfo>
#include <QGridLayout>
#include <QLabel>
#include <QPushButton>
#include <QSettings>

#include <ATen/ATen.h>
#include <c10/util/Exception.h>

#include "data/toy2d.hpp"
#include "message_area.hpp"
#include "common/device.hpp"
#include "common/json_parse.hpp"
#include "training/pairing.hpp"

namespace sims::ui {
namespace {

// A whole number of a model's provenance for display; 0 when missing or damaged (a TorchScript model's sims.json is
// shown as its author wrote it).
int64_t whole(const nlohmann::json& o, const char* key) {
  try {
    return value_or<int64_t>(o, key, 0);
  } catch (const InputError&) {
    return 0;
  }
}

QString human_count(int64_t n) {
  if (n >= 1000000) return QString::number(n / 1e6, 'f', n % 1000000 ? 1 : 0) + "M";
  if (n >= 1000) return QString::number(n / 1e3, 'f', n % 1000 ? 1 : 0) + "k";
  return QString::number(n);
}

// The training set a checkpoint was made from, when it is a built-in 2D set.
SampleSet reference_from(const Denoiser& d, QString& name) {
  SampleSet s;
  std::string set;
  at::Tensor x = data::training_points(d.info().provenance, 4000, &set);
  if (!x.defined()) return s;
  x = x.to(at::kFloat).contiguous();
  s.shape = {2};
  s.data.assign(x.data_ptr<float>(), x.data_ptr<float>() + x.numel());
  name = QString::fromStdString(set);
  return s;
}

// SIMS expects the auxiliary to be the base's own fine-tune; another pairing is allowed, and said.
void warn_if_unpaired(MessageArea* messages, const DenoiserPtr& base, const DenoiserPtr& aux) {
  if (!base || !aux) return;
  ModelInfo b = base->info(), a = aux->info();  // the panel names files, not paths
  b.path = QFileInfo(QString::fromStdString(b.path)).fileName().toStdString();
  a.path = QFileInfo(QString::fromStdString(a.path)).fileName().toStdString();
  const std::string doubt = pairing_doubt(b, a);
  if (!doubt.empty()) messages->warning(QString::fromStdString(doubt));
}

}  // namespace

QString describe_model(const Denoiser& d) {
  const ModelInfo& m = d.info();
  QStringList shape;
  for (auto s : m.sample_shape) shape << QString::number(s);
  QString text = QString("<b>%1</b><br>%2").arg(QFileInfo(QString::fromStdString(m.path)).fileName().toHtmlEscaped(),
                                                 QString::fromStdString(m.kind));
  const auto& p = m.provenance;
  if (p.contains("net") && p["net"].is_object()) {
    text += " · " + QString::fromStdString(p["net"].value("type", ""));
    if (whole(p["net"], "width") > 0)
      text += QString(" %1×%2").arg(whole(p["net"], "width")).arg(whole(p["net"], "depth"));
  }
  if (m.parameters > 0) text += " · " + human_count(m.parameters) + " params";
  text += m.sample_shape.size() == 1 ? QString(" · %1-D points").arg(m.sample_shape[0]) : " · " + shape.join("×");
  QString history;
  if (p.contains("history") && p["history"].is_object()) {
    // Paths inside the summary shown by their file name (the tooltip has them whole).
    QStringList words = QString::fromStdString(p["history"].value("summary", "")).split(' ');
    for (QString& w : words)
      if (w.contains('/')) w = QFileInfo(w).fileName();
    history = words.join(' ');
  }
  if (p.contains("images_seen")) {
    if (!history.isEmpty()) history += " · ";
    // The trainer counts images seen; for a model of points they are samples (as sims tune and the CLI say).
    history += human_count(whole(p, "images_seen")) + (m.sample_shape.size() == 1 ? " samples seen" : " images seen");
  }
  if (!history.isEmpty()) text += "<br>" + toned(history.toHtmlEscaped(), Tone::Muted);
  return text;
}

ModelsPanel::ModelsPanel(MessageArea* messages, QWidget* parent) : QGroupBox("Models", parent), messages_(messages) {
  auto* g = new QGridLayout(this);
  g->setColumnStretch(1, 1);
  auto row = [&](int r, const QString& name, ModelRole role) {
    auto* t = new QLabel("<b>" + name + "</b>", this);
    auto* l = new QLabel(this);
    l->setWordWrap(true);
    l->setTextFormat(Qt::RichText);
    l->setMinimumWidth(160);
    l->setTextInteractionFlags(Qt::TextSelectableByMouse);
    auto* b = new QPushButton("Open…", this);
    b->setObjectName(role == ModelRole::Base ? "openBase" : "openAux");
    b->setToolTip("Open a checkpoint (sims train / finetune), a TorchScript model or an analytic .json model");
    connect(b, &QPushButton::clicked, this, [this, role] { open_dialog(role); });
    g->addWidget(t, r, 0, Qt::AlignTop);
    g->addWidget(l, r, 1);
    g->addWidget(b, r, 2, Qt::AlignTop);
    return l;
  };
  base_label_ = row(0, "Base", ModelRole::Base);
  aux_label_ = row(1, "Aux", ModelRole::Aux);
  describe(ModelRole::Base);
  describe(ModelRole::Aux);
  connect(ThemeSignals::instance(), &ThemeSignals::changed, this, [this] {
    describe(ModelRole::Base);
    describe(ModelRole::Aux);
  });
}

void ModelsPanel::open_dialog(ModelRole role) {
  QSettings s;
  const QString dir = s.value("models/lastDir", QFileInfo(path(role)).absolutePath()).toString();
  const QString f = QFileDialog::getOpenFileName(this, role == ModelRole::Base ? "Open base model" : "Open auxiliary model",
                                                 dir, "Models (*.ckpt *.pt *.pth *.json);;All files (*)");
  if (f.isEmpty()) return;
  s.setValue("models/lastDir", QFileInfo(f).absolutePath());
  load(role, f);
}

DenoiserPtr ModelsPanel::open_model(ModelRole role, const QString& path, QString* error) const {
  const QString which = role == ModelRole::Base ? "base" : "auxiliary";
  if (path.isEmpty()) {
    *error = QString("no %1 model file given").arg(which);
    return nullptr;
  }
  if (!QFileInfo::exists(path)) {
    *error = QString("cannot open the %1 model: '%2' does not exist").arg(which, path);
    return nullptr;
  }
  try {
    LoadOptions o;
    o.device = face_device();  // sims-studio --device / the Compute menu
    return load_denoiser(path.toStdString(), o);
  } catch (const c10::Error& e) {
    const std::string m = e.what_without_backtrace();
    *error = QString("%1 model '%2': %3").arg(which, path, QString::fromStdString(m.substr(0, m.find('\n'))));
  } catch (const std::exception& e) {
    *error = QString("%1 model: %2").arg(which, QString::fromStdString(sims::error_words(e)));
  }
  return nullptr;
}

void ModelsPanel::install(ModelRole role, const DenoiserPtr& d, const QString& path) {
  const QString which = role == ModelRole::Base ? "base" : "auxiliary";
  if (role == ModelRole::Base) {
    base_ = d;
    base_path_ = path;
    reference_ = {};
    reference_name_.clear();
    try {
      reference_ = reference_from(*d, reference_name_);
    } catch (const std::exception& e) {
      messages_->warning(QString("the base model's training data cannot be drawn: %1").arg(QString::fromStdString(sims::error_words(e))));
    }
  } else {
    aux_ = d;
    aux_path_ = path;
  }
  describe(role);
  messages_->info(QString("loaded %1 model %2").arg(which, QFileInfo(path).fileName()));
  Q_EMIT model_opened(role, path);
}

bool ModelsPanel::load(ModelRole role, const QString& path) {
  const QString which = role == ModelRole::Base ? "base" : "auxiliary";
  if (path.isEmpty()) return false;
  QString error;
  const DenoiserPtr d = open_model(role, path, &error);
  if (!d) {
    messages_->error(error);
    return false;
  }
  const DenoiserPtr other = role == ModelRole::Base ? aux_ : base_;
  if (other && other->info().sample_shape != d->info().sample_shape)
    messages_->warning(QString("the %1 model's samples are %2 but the other model's are %3: sampling needs both to match")
                           .arg(which, QString::fromStdString(shape_to_string(d->info().sample_shape)),
                                QString::fromStdString(shape_to_string(other->info().sample_shape))));
  install(role, d, path);
  warn_if_unpaired(messages_, base_, aux_);
  Q_EMIT models_changed();
  return true;
}

bool ModelsPanel::load_pair(const QString& base, const QString& aux, QString* why) {
  QString error;
  auto refuse = [&](const QString& text) {
    if (why) *why = text;  // the caller words it (a session names its own file)
    else messages_->error(text);
    return false;
  };
  const DenoiserPtr b = open_model(ModelRole::Base, base, &error);
  if (!b) return refuse(error);
  DenoiserPtr a;
  if (!aux.isEmpty()) {
    a = open_model(ModelRole::Aux, aux, &error);
    if (!a) return refuse(error);
    if (a->info().sample_shape != b->info().sample_shape)
      return refuse(QString("the auxiliary model's samples are %1 but the base model's are %2")
                        .arg(QString::fromStdString(shape_to_string(a->info().sample_shape)),
                             QString::fromStdString(shape_to_string(b->info().sample_shape))));
  }
  install(ModelRole::Base, b, base);
  if (a) {
    install(ModelRole::Aux, a, aux);
    warn_if_unpaired(messages_, b, a);
  } else {
    aux_.reset();
    aux_path_.clear();
    describe(ModelRole::Aux);
  }
  Q_EMIT models_changed();
  return true;
}

void ModelsPanel::unload(ModelRole role) {
  (role == ModelRole::Base ? base_ : aux_).reset();
  (role == ModelRole::Base ? base_path_ : aux_path_).clear();
  if (role == ModelRole::Base) reference_ = {}, reference_name_.clear();
  describe(role);
  Q_EMIT models_changed();
}

void ModelsPanel::describe(ModelRole role) {
  const DenoiserPtr& d = role == ModelRole::Base ? base_ : aux_;
  QLabel* l = role == ModelRole::Base ? base_label_ : aux_label_;
  if (!d) {
    l->setText(role == ModelRole::Base ? toned("no base model: open one or train one", Tone::Error)
                                       : toned("none: plain sampling of the base (ω has no effect)", Tone::Muted));
    l->setToolTip({});
    return;
  }
  l->setText(describe_model(*d));
  l->setToolTip(QString::fromStdString(d->info().to_json().dump(2)));
}

}  // namespace sims::ui
