#include "point_view.hpp"

#include <cmath>

#include <QLabel>
#include <QOffscreenSurface>
#include <QOpenGLContext>
#include <QOpenGLFunctions>
#include <QOpenGLPaintDevice>
#include <QOpenGLShaderProgram>
#include <QOpenGLWidget>
#include <QPainter>
#include <QVBoxLayout>

#include "image_grid_view.hpp"
#include "plot_painter.hpp"

// The shaders live in a resource of this static library: register it
// explicitly (the linker may drop an unreferenced static initializer).
static void init_studio_resources() { Q_INIT_RESOURCE(studio); }

#include <QFontMetricsF>
#include <QMouseEvent>
#include <QWheelEvent>

namespace sims::ui {

// [SECTION] Canvases ----------------------------------------------------------------

class PointView::PainterCanvas final : public QWidget {
 public:
  PainterCanvas(PointView* view) : QWidget(view), view_(view) {}

 protected:
  void paintEvent(QPaintEvent*) override {
    QPainter p(this);
    view_->paint_all(p, size());
    view_->note_frame_painted();
  }

 private:
  PointView* view_;
};

class PointView::GlCanvas final : public QOpenGLWidget, protected QOpenGLFunctions {
 public:
  GlCanvas(PointView* view) : QOpenGLWidget(view), view_(view) {}
  ~GlCanvas() override {
    makeCurrent();
    program_.reset();
    doneCurrent();
  }
  bool shaders_ok() const { return ok_; }

  // Draws a point cloud in data coordinates (called between begin/endNativePainting).
  void draw_points(const SampleSet& s, const QColor& color, float size, const QRectF& bounds, const QRectF& plot,
                   const QSize& widget, double dpr) {
    if (!ok_ || s.shape != std::vector<int64_t>{2} || s.count() == 0) return;
    // Affine map data -> NDC through the plot rectangle (widget pixels).
    const double W = widget.width(), H = widget.height();
    const double ax = plot.width() / bounds.width() * 2.0 / W;
    const double bx = (plot.left() - bounds.left() * plot.width() / bounds.width()) * 2.0 / W - 1.0;
    const double ay = plot.height() / bounds.height() * 2.0 / H;
    const double by = 1.0 - (plot.bottom() + bounds.top() * plot.height() / bounds.height()) * 2.0 / H;
    glViewport(0, 0, static_cast<int>(W * dpr), static_cast<int>(H * dpr));
    glEnable(GL_SCISSOR_TEST);
    glScissor(static_cast<int>(plot.left() * dpr), static_cast<int>((H - plot.bottom()) * dpr),
              static_cast<int>(plot.width() * dpr), static_cast<int>(plot.height() * dpr));
    glEnable(GL_BLEND);
    glBlendFuncSeparate(GL_SRC_ALPHA, GL_ONE_MINUS_SRC_ALPHA, GL_ONE, GL_ONE_MINUS_SRC_ALPHA);
    glEnable(0x8642);  // GL_PROGRAM_POINT_SIZE
    glEnable(0x8861);  // GL_POINT_SPRITE (compatibility profiles need it for gl_PointCoord)
    glBindBuffer(GL_ARRAY_BUFFER, 0);
    program_->bind();
    program_->setUniformValue("u_xform", QVector4D(ax, bx, ay, by));
    program_->setUniformValue("u_size", size);
    program_->setUniformValue("u_color", QVector4D(color.redF(), color.greenF(), color.blueF(), color.alphaF()));
    const int loc = program_->attributeLocation("a_pos");
    program_->enableAttributeArray(loc);
    program_->setAttributeArray(loc, GL_FLOAT, s.data.data(), 2);
    glDrawArrays(GL_POINTS, 0, static_cast<GLsizei>(s.count()));
    program_->disableAttributeArray(loc);
    program_->release();
    glDisable(GL_SCISSOR_TEST);
    while (glGetError() != GL_NO_ERROR) {
    }
  }

 protected:
  void initializeGL() override {
    initializeOpenGLFunctions();
    program_ = std::make_unique<QOpenGLShaderProgram>();
    ok_ = program_->addShaderFromSourceFile(QOpenGLShader::Vertex, ":/shaders/points.vert") &&
          program_->addShaderFromSourceFile(QOpenGLShader::Fragment, ":/shaders/points.frag") && program_->link();
    if (!ok_) qWarning("sims-studio: point shaders failed (%s); drawing points with QPainter",
                       qPrintable(program_->log()));
  }
  void paintGL() override {
    // Paint on the bound framebuffer, not on the widget: QWidget::grab() and render() redirect a widget's
    // painter to their raster target while the native GL points still go to the framebuffer, which Qt then
    // draws above that target: screenshots showed the points over the footer plate and the hover box.
    QOpenGLPaintDevice device(size() * devicePixelRatioF());
    device.setDevicePixelRatio(devicePixelRatioF());
    device.setDotsPerMeterX(logicalDpiX() / 0.0254);  // the widget's text size, not the device's default 96 dpi
    device.setDotsPerMeterY(logicalDpiY() / 0.0254);
    QPainter p(&device);
    p.setFont(font());
    view_->paint_gl(p, size(), devicePixelRatioF());
    view_->note_frame_painted();
  }

 private:
  PointView* view_;
  std::unique_ptr<QOpenGLShaderProgram> program_;
  bool ok_ = false;
};

// [SECTION] Point splatting (QPainter renderer) ---------------------------------------

namespace {

// Coverage of an anti-aliased disc of radius r pixels (4x4 supersampled),
// centred on the middle pixel of a (2R+1)^2 box.
struct Disc {
  int R = 0;
  std::vector<float> cover;
};

Disc make_disc(double r) {
  Disc d;
  d.R = static_cast<int>(std::ceil(r));
  const int n = 2 * d.R + 1;
  d.cover.assign(static_cast<size_t>(n) * n, 0.f);
  for (int y = 0; y < n; ++y)
    for (int x = 0; x < n; ++x) {
      int in = 0;
      for (int sy = 0; sy < 4; ++sy)
        for (int sx = 0; sx < 4; ++sx) {
          const double dx = x - d.R + (sx + 0.5) / 4 - 0.5, dy = y - d.R + (sy + 0.5) / 4 - 0.5;
          in += dx * dx + dy * dy <= r * r;
        }
      d.cover[static_cast<size_t>(y) * n + x] = in / 16.f;
    }
  return d;
}

// Source-over blend of discs at the points of s into a premultiplied ARGB image
// whose pixel (0, 0) is the plot's top-left corner.
void splat(QImage& img, const SampleSet& s, const PlotFrame& f, double dpr, const QColor& col, double radius) {
  if (s.shape != std::vector<int64_t>{2} || s.count() == 0) return;
  const Disc d = make_disc(std::max(0.6, radius * dpr));
  const int n = 2 * d.R + 1, W = img.width(), H = img.height();
  const float a = static_cast<float>(col.alphaF());
  const float cr = static_cast<float>(col.red()) * a, cg = static_cast<float>(col.green()) * a,
              cb = static_cast<float>(col.blue()) * a;
  for (int64_t i = 0; i < s.count(); ++i) {
    const float x = s.data[2 * i], y = s.data[2 * i + 1];
    if (!std::isfinite(x) || !std::isfinite(y)) continue;
    const QPointF q = f.map(x, y);
    const double px = (q.x() - f.plot.left()) * dpr, py = (q.y() - f.plot.top()) * dpr;
    if (px < -d.R - 1 || py < -d.R - 1 || px > W + d.R || py > H + d.R) continue;
    const int ix = static_cast<int>(std::floor(px)) - d.R, iy = static_cast<int>(std::floor(py)) - d.R;
    for (int yy = 0; yy < n; ++yy) {
      const int Y = iy + yy;
      if (Y < 0 || Y >= H) continue;
      auto* line = reinterpret_cast<QRgb*>(img.scanLine(Y));
      for (int xx = 0; xx < n; ++xx) {
        const int X = ix + xx;
        const float c = d.cover[static_cast<size_t>(yy) * n + xx];
        if (c <= 0.f || X < 0 || X >= W) continue;
        const QRgb dst = line[X];
        const float keep = 1.f - a * c;
        line[X] = qRgba(static_cast<int>(cr * c + qRed(dst) * keep + 0.5f), static_cast<int>(cg * c + qGreen(dst) * keep + 0.5f),
                        static_cast<int>(cb * c + qBlue(dst) * keep + 0.5f),
                        static_cast<int>(255.f * a * c + qAlpha(dst) * keep + 0.5f));
      }
    }
  }
}

}  // namespace

const QImage& PointView::points_layer(const PlotFrame& f, double dpr, const ViewColours& k) {
  if (!layer_dirty_ && layer_plot_ == f.plot && layer_dpr_ == dpr && layer_dark_ == k.dark) return layer_;
  const QSize px(std::max(1, static_cast<int>(std::ceil(f.plot.width() * dpr))),
                 std::max(1, static_cast<int>(std::ceil(f.plot.height() * dpr))));
  layer_ = QImage(px, QImage::Format_ARGB32_Premultiplied);
  layer_.fill(Qt::transparent);
  splat(layer_, shown_.reference, f, dpr, k.reference_points(), 1.2);
  splat(layer_, shown_.samples, f, dpr, k.sample_points(shown_.color), point_size_for(shown_.samples.count(), 1.0) / 2.0);
  layer_.setDevicePixelRatio(dpr);
  layer_plot_ = f.plot;
  layer_dpr_ = dpr;
  layer_dark_ = k.dark;
  layer_dirty_ = false;
  return layer_;
}

// [SECTION] PointView ---------------------------------------------------------------

bool PointView::opengl_available() {
  static const bool ok = [] {
    init_studio_resources();
    const QByteArray force = qgetenv("SIMS_STUDIO_RENDERER");
    if (force == "painter") return false;
    if (force == "gl") return true;
    QOpenGLContext ctx;
    if (!ctx.create()) return false;
    QOffscreenSurface surface;
    surface.setFormat(ctx.format());
    surface.create();
    if (!surface.isValid() || !ctx.makeCurrent(&surface)) return false;
    const bool has_shaders = QOpenGLShaderProgram::hasOpenGLShaderPrograms(&ctx);
    ctx.doneCurrent();
    return has_shaders;
  }();
  return ok;
}

PointView::PointView(QWidget* parent) : SampleView(parent) {
  auto* lay = new QVBoxLayout(this);
  lay->setContentsMargins(0, 0, 0, 0);
  if (opengl_available()) {
    gl_ = new GlCanvas(this);
    canvas_ = gl_;
  } else {
    canvas_ = new PainterCanvas(this);
  }
  lay->addWidget(canvas_);
  canvas_->setMouseTracking(true);
  canvas_->installEventFilter(this);
  canvas_->setToolTip("wheel: zoom · drag: pan · double-click: fit the samples");
  setMinimumSize(260, 260);
}

QString PointView::renderer() const { return gl_ ? "OpenGL" : "QPainter"; }

void PointView::set_content(const ViewContent& content) {
  content_ = content;
  apply_view();
}

// What is drawn: the content, inside the user's zoom box when there is one.
void PointView::apply_view() {
  shown_ = content_;
  if (zoom_.isValid()) shown_.bounds = zoom_;
  heat_region_ = heat_region_for(shown_.bounds);
  heat_ = density_image(shown_, heat_region_, 150);
  layer_dirty_ = true;
  canvas_->update();
}

// The data point under a widget position of the canvas.
QPointF PointView::data_at(const QPointF& px) const {
  const PlotFrame f = plot_frame(canvas_->size(), shown_);
  return {f.bounds.left() + (px.x() - f.plot.left()) / f.plot.width() * f.bounds.width(),
          f.bounds.top() + (f.plot.bottom() - px.y()) / f.plot.height() * f.bounds.height()};
}

void PointView::zoom_by(double factor, const QPointF& px) {
  const PlotFrame f = plot_frame(canvas_->size(), shown_);
  if (!f.plot.contains(px)) return;
  const QPointF c = data_at(px);
  const QRectF& b = f.bounds;
  const double w = b.width() * factor, h = b.height() * factor;
  if (w < 1e-9 || w > 1e9) return;
  zoom_ = QRectF(c.x() - (c.x() - b.left()) * factor, c.y() - (c.y() - b.top()) * factor, w, h);
  apply_view();
  zoom_changed();
}

void PointView::reset_zoom() {
  zoom_ = QRectF();
  apply_view();
}

void PointView::set_zoom(const QRectF& box) {
  if (box == zoom_) return;
  zoom_ = box;
  apply_view();
}

void PointView::zoom_changed() {
  if (on_zoom) on_zoom(zoom_);
}

// Wheel: zoom about the cursor; drag: pan; double-click: fit the samples again (the axes follow σ again);
// hover: the data coordinates under the cursor.
bool PointView::eventFilter(QObject* o, QEvent* e) {
  if (o != canvas_) return SampleView::eventFilter(o, e);
  switch (e->type()) {
    case QEvent::Wheel: {
      auto* w = static_cast<QWheelEvent*>(e);
      const double steps = w->angleDelta().y() / 120.0;
      if (steps != 0) zoom_by(std::pow(0.85, steps), w->position());
      return true;
    }
    case QEvent::MouseButtonPress: {
      auto* m = static_cast<QMouseEvent*>(e);
      if (m->button() != Qt::LeftButton) break;
      drag_from_ = m->position();
      drag_bounds_ = plot_frame(canvas_->size(), shown_).bounds;
      return true;
    }
    case QEvent::MouseMove: {
      auto* m = static_cast<QMouseEvent*>(e);
      hover_ = m->position();
      if ((m->buttons() & Qt::LeftButton) && drag_bounds_.isValid()) {
        const PlotFrame f = plot_frame(canvas_->size(), shown_);
        const QPointF d = m->position() - drag_from_;
        zoom_ = drag_bounds_.translated(-d.x() / f.plot.width() * drag_bounds_.width(),
                                        d.y() / f.plot.height() * drag_bounds_.height());
        apply_view();
        zoom_changed();
      } else {
        canvas_->update();
      }
      return true;
    }
    case QEvent::MouseButtonRelease:
      drag_bounds_ = QRectF();
      return true;
    case QEvent::MouseButtonDblClick:
      reset_zoom();
      zoom_changed();
      return true;
    case QEvent::Leave:
      hover_ = QPointF(-1, -1);
      canvas_->update();
      break;
    default:
      break;
  }
  return SampleView::eventFilter(o, e);
}

// The cursor's data coordinates, and how to undo a zoom, in the plot's top-left corner.
void PointView::paint_hover(QPainter& p, const PlotFrame& f, const ViewColours& k) {
  QString text;
  if (f.plot.contains(hover_)) {
    const QPointF d = data_at(hover_);
    text = QString("x₁ = %1, x₂ = %2").arg(d.x(), 0, 'g', 3).arg(d.y(), 0, 'g', 3);
  }
  if (zoom_.isValid()) text += QString(text.isEmpty() ? "" : "  ·  ") + "zoomed: double-click to fit";
  if (text.isEmpty()) return;
  QFont small = p.font();
  small.setPointSizeF(8.5);
  p.setFont(small);
  const QRectF box = QFontMetricsF(small).boundingRect(text).adjusted(-4, -2, 4, 2);
  const QRectF at(f.plot.left() + 4, f.plot.top() + 4, box.width(), box.height());
  p.fillRect(at, k.hover);
  p.setPen(k.text);
  p.drawText(at, Qt::AlignCenter, text);
}

void PointView::paint_all(QPainter& p, const QSize& size, bool for_export) {
  const ViewColours& k = for_export ? paper_colours() : screen_colours();
  const PlotFrame f = plot_frame(size, shown_);
  paint_underlay(p, f, heat_, heat_region_, k);
  const double dpr = p.device() ? p.device()->devicePixelRatioF() : 1.0;
  p.drawImage(f.plot.topLeft(), points_layer(f, dpr, k));
  paint_overlay(p, f, shown_, k);
  if (!for_export) paint_hover(p, f, k);
}

void PointView::paint_gl(QPainter& p, const QSize& size, double dpr) {
  if (!gl_->shaders_ok()) return paint_all(p, size);
  const ViewColours& k = screen_colours();
  const PlotFrame f = plot_frame(size, shown_);
  paint_underlay(p, f, heat_, heat_region_, k);
  p.beginNativePainting();
  gl_->draw_points(shown_.reference, k.reference_points(), 2.6f * dpr, f.bounds, f.plot, size, dpr);
  gl_->draw_points(shown_.samples, k.sample_points(shown_.color), point_size_for(shown_.samples.count(), dpr), f.bounds, f.plot, size, dpr);
  p.endNativePainting();
  paint_overlay(p, f, shown_, k);
  paint_hover(p, f, k);
}

// Exports are drawn by the QPainter renderer on paper colours, whatever the screen's theme and renderer.
QImage PointView::render_image() {
  const double dpr = devicePixelRatioF();
  const QSize sz = size().isEmpty() ? QSize(600, 600) : size();
  QImage img(sz * dpr, QImage::Format_ARGB32_Premultiplied);
  img.setDevicePixelRatio(dpr);
  QPainter p(&img);
  paint_all(p, sz, true);
  return img;
}

// [SECTION] Factory and bounds ------------------------------------------------------------

namespace {

// Shown for sample shapes without a view yet (image models).
class PlaceholderView final : public SampleView {
 public:
  PlaceholderView(const std::vector<int64_t>& shape, QWidget* parent) : SampleView(parent) {
    auto* lay = new QVBoxLayout(this);
    QString s;
    for (size_t i = 0; i < shape.size(); ++i) s += (i ? "×" : "") + QString::number(shape[i]);
    auto* l = new QLabel("Samples of shape " + s + ": no view for this shape yet (2D points and 1- or 3-channel images).", this);
    l->setAlignment(Qt::AlignCenter);
    l->setWordWrap(true);
    lay->addWidget(l);
  }
  void set_content(const ViewContent& c) override { c_ = c; }
  const ViewContent& content() const override { return c_; }
  QImage render_image() override { return grab().toImage(); }
  QString renderer() const override { return "none"; }

 private:
  ViewContent c_;
};

}  // namespace

SampleView* make_sample_view(const std::vector<int64_t>& shape, QWidget* parent) {
  if (shape == std::vector<int64_t>{2}) return new PointView(parent);
  if (shape.size() == 3 && (shape[0] == 1 || shape[0] == 3)) return new ImageGridView(parent);
  return new PlaceholderView(shape, parent);
}

QRectF bounds_of(const std::vector<const SampleSet*>& sets) {
  std::vector<float> xs, ys;
  for (const SampleSet* s : sets) {
    if (!s || s->shape != std::vector<int64_t>{2}) continue;
    for (int64_t i = 0; i < s->count(); ++i) {
      if (!std::isfinite(s->data[2 * i]) || !std::isfinite(s->data[2 * i + 1])) continue;
      xs.push_back(s->data[2 * i]);
      ys.push_back(s->data[2 * i + 1]);
    }
  }
  if (xs.size() < 2) return QRectF(-3, -3, 6, 6);
  auto range = [](std::vector<float>& v) {
    const size_t lo = v.size() / 200, hi = v.size() - 1 - v.size() / 200;
    std::nth_element(v.begin(), v.begin() + lo, v.end());
    const float a = v[lo];
    std::nth_element(v.begin(), v.begin() + hi, v.end());
    return std::make_pair(a, v[hi]);
  };
  auto [x0, x1] = range(xs);
  auto [y0, y1] = range(ys);
  const double span = std::max({x1 - x0, y1 - y0, 1e-3f});
  const double pad = 0.12 * span;
  return QRectF(x0 - pad, y0 - pad, (x1 - x0) + 2 * pad, (y1 - y0) + 2 * pad);
}

}  // namespace sims::ui
