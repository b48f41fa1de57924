// Everything of a 2D point plot that both renderers share (the OpenGL one
// draws only the point clouds itself): layout, data -> pixel mapping, the
// density heat map, trails, axes, ticks and titles, all with QPainter.
#pragma once
#include <QFontMetricsF>
#include <QImage>
#include <QPainter>
#include <QRectF>

#include "sample_view.hpp"
#include "theme.hpp"

namespace sims::ui {

struct PlotFrame {
  QRectF widget;  // whole widget
  QRectF plot;    // the data area
  QRectF bounds;  // data range of the plot area
  QPointF map(double x, double y) const {
    return {plot.left() + (x - bounds.left()) / bounds.width() * plot.width(),
            plot.bottom() - (y - bounds.top()) / bounds.height() * plot.height()};
  }
};

PlotFrame plot_frame(const QSize& size, const ViewContent& c);

// The colours `k`: screen_colours() on screen, paper_colours() for exports.
// Background, frame and heat map (under the points); the heat map covers `heat_region` (data units).
void paint_underlay(QPainter& p, const PlotFrame& f, const QImage& heat, const QRectF& heat_region, const ViewColours& k);
// Points with QPainter (the fallback renderer): reference faintly, then samples.
void paint_points(QPainter& p, const PlotFrame& f, const ViewContent& c, const ViewColours& k);
// Trails, axes, ticks, titles (over the points).
void paint_overlay(QPainter& p, const PlotFrame& f, const ViewContent& c, const ViewColours& k);

// Density of the samples over a region: a smoothed histogram coloured with a
// transparent-to-colour ramp (ARGB32, premultiplied).
QImage density_image(const ViewContent& c, const QRectF& region, int bins);
// The region a heat map should cover: the bounds widened enough for any
// widget aspect ratio.
QRectF heat_region_for(const QRectF& bounds);

float point_size_for(int64_t count, double dpr);

// `text` broken between its " · " parts into lines no wider than `width`; a part too wide alone is elided, and
// beyond `max_lines` the rest is joined onto the last line and elided there.
QStringList break_parts(const QString& text, const QFontMetricsF& fm, double width, int max_lines = 1 << 20);
// A view's subtitle (9 pt, under its title) in a view `width` px wide: at most three lines, broken between its
// " · " parts, so that every number with its interval shows instead of being elided after the first ones. The
// view's content area starts lower by kSubtitleLine for each line after the first.
QFont subtitle_font();
// One line, elided, unless `wrap` (ViewContent::wrap_texts).
QStringList subtitle_lines(const QString& subtitle, double width, bool wrap = true);
constexpr double kSubtitleLine = 16;

}  // namespace sims::ui
