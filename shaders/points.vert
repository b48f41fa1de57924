#version 120
// Point cloud of 2D samples (sims-studio PointView). Data coordinates are
// mapped to clip space by an affine transform: ndc = xform.xz * p + xform.yw.
attribute vec2 a_pos;
uniform vec4 u_xform;
uniform float u_size;
void main() {
  gl_Position = vec4(u_xform.x * a_pos.x + u_xform.y, u_xform.z * a_pos.y + u_xform.w, 0.0, 1.0);
  gl_PointSize = u_size;
}
