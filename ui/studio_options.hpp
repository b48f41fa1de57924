// How the studio starts: model files, whether it remembers settings, and the
// live previews' sizes (fed to the engine's LivePolicy).
#pragma once
#include <cstdint>

#include <QString>

namespace sims::ui {

struct StudioOptions {
  QString base, aux;          // model files; empty: remembered ones, else the shipped models
  bool remember = true;       // read and write QSettings
  QString theme;              // "system", "light" or "dark"; empty: the remembered one (else system)
  // A session the caller opens right after (sims-studio --session): its models are the ones loaded at start-up.
  QString session;
  int64_t preview_points = 400;
  // Image models: the quick first look (images, Heun steps) shown before the full grid.
  int64_t image_preview_images = 4;
  int image_preview_steps = 8;
};

// A shipped model, assets/models/PAIR-ROLE.ckpt (role "base" or "aux"). The studio opens on the gaussian
// pair: of the shipped 2D pairs, the one where the tuned SIMS beats the base beyond its 95 % interval.
QString shipped_model(const char* role, const char* pair = "gaussian");

}  // namespace sims::ui
