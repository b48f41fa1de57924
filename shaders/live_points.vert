#version 330 core
// sims-live: 2D samples (and lines) in data coordinates, mapped to clip space
// by an affine transform: ndc = (u_xform.x * x + u_xform.y, u_xform.z * y + u_xform.w).
layout(location = 0) in vec2 a_pos;
uniform vec4 u_xform;
uniform float u_size;
void main() {
  gl_Position = vec4(u_xform.x * a_pos.x + u_xform.y, u_xform.z * a_pos.y + u_xform.w, 0.0, 1.0);
  gl_PointSize = u_size;
}
