// A row of sample thumbnails with captions (the Sweep tab's samples per ω,
// the Loops tab's saved runs per generation). Cells shrink to fit the width;
// clicking one selects it and emits cell_clicked. The thumbnail renderers are
// plain QImage functions so exports and tests can use them too.
#pragma once
#include <functional>
#include <vector>

#include <QFont>
#include <QImage>
#include <QWidget>

#include "sample_view.hpp"
#include "theme.hpp"

namespace sims::ui {

// 2D points over the reference set (drawn faintly) in `bounds`, square `size` px, on a transparent background
// (the strip paints the cell in the theme's plot colour); the points' colours for `k`.
QImage points_thumbnail(const SampleSet& points, const SampleSet& reference, const QRectF& bounds,
                        const QColor& colour, int size, const ViewColours& k = paper_colours());
// Up to max_count images ([C,H,W] in [-1, 1]) as a square mosaic, native pixels.
QImage images_mosaic(const SampleSet& images, int max_count);

class SampleStrip final : public QWidget {
  Q_OBJECT
 public:
  explicit SampleStrip(QWidget* parent = nullptr);
  void clear();
  // Returns the cell index.
  int add_cell(const QImage& thumbnail, const QString& caption);
  // A points_thumbnail cell, drawn again in the new colours when the theme changes.
  int add_points_cell(const SampleSet& points, const SampleSet& reference, const QRectF& bounds, const QColor& colour,
                      int size, const QString& caption);
  int count() const { return static_cast<int>(cells_.size()); }
  void set_selected(int i);
  int selected() const { return selected_; }
  // Largest cell side in pixels (cells shrink when the row is too wide).
  void set_cell_size(int px);
  QRect cell_rect(int i) const;
  // Cell i's caption as drawn in cells `side` px wide ('\n' where it breaks).
  QString caption_text(int i, int side) const;
  QSize sizeHint() const override;
  QSize minimumSizeHint() const override;
  bool hasHeightForWidth() const override { return true; }
  int heightForWidth(int width) const override;

 Q_SIGNALS:
  void cell_clicked(int index);

 protected:
  void paintEvent(QPaintEvent*) override;
  void mousePressEvent(QMouseEvent* e) override;

 private:
  struct Cell {
    QImage image;
    QString caption;
    std::function<QImage()> redraw;  // points cells: the thumbnail in the current theme's colours
  };
  void redraw_points();
  int side() const { return side_for(width()); }
  int side_for(int width) const;
  QFont caption_font() const;
  int caption_height(int side) const;
  // How every caption breaks at this width (0: one line, 1: at " · ", 2: also before "±"; the same for all cells),
  // measured once for a paint rather than once per cell.
  int caption_level(int side) const;
  QString caption_at(int i, int side, int level) const;
  std::vector<Cell> cells_;
  int selected_ = -1;
  int cell_px_ = 150;
};

}  // namespace sims::ui
