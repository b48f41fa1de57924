// Models panel: the base and auxiliary model files (project checkpoints,
// TorchScript, analytic .json), what each one is, and the real data they
// were trained on when the checkpoint says (drawn faintly behind samples).
#pragma once
#include <QGroupBox>

#include "diffusion/denoiser.hpp"
#include "sample_view.hpp"

#include "widgets_fwd.hpp"

namespace sims::ui {

class MessageArea;

enum class ModelRole { Base, Aux };

class ModelsPanel final : public QGroupBox {
  Q_OBJECT
 public:
  ModelsPanel(MessageArea* messages, QWidget* parent = nullptr);
  // Loads a model file; on failure the message area says why, the previous
  // model stays, and false is returned.
  bool load(ModelRole role, const QString& path);
  // Both at once (aux may be empty: no auxiliary): either both are loaded,
  // or neither changes and the message area says why (or *why, when given:
  // the caller words the refusal, e.g. a session naming its own file).
  bool load_pair(const QString& base, const QString& aux, QString* why = nullptr);
  void unload(ModelRole role);
  DenoiserPtr base() const { return base_; }
  DenoiserPtr aux() const { return aux_; }
  QString path(ModelRole role) const { return role == ModelRole::Base ? base_path_ : aux_path_; }
  // Real data of the base model's training set, when its checkpoint names a built-in data set.
  const SampleSet& reference() const { return reference_; }
  QString reference_name() const { return reference_name_; }

 public Q_SLOTS:
  void open_dialog(sims::ui::ModelRole role);

 Q_SIGNALS:
  void models_changed();
  // A model file was loaded (for the recent-files list).
  void model_opened(sims::ui::ModelRole role, const QString& path);

 private:
  // Loads a file without changing the panel; null and *error on failure.
  DenoiserPtr open_model(ModelRole role, const QString& path, QString* error) const;
  void install(ModelRole role, const DenoiserPtr& d, const QString& path);
  void describe(ModelRole role);

  MessageArea* messages_;
  DenoiserPtr base_, aux_;
  QString base_path_, aux_path_;
  QLabel *base_label_, *aux_label_;
  SampleSet reference_;
  QString reference_name_;
};

// One paragraph about a model (kind, shape, size, provenance), rich text.
QString describe_model(const Denoiser& d);

}  // namespace sims::ui
