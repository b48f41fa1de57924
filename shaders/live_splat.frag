#version 330 core
// sims-live density map, pass 1: each sample adds a Gaussian splat to a
// float framebuffer (additive blending), so the framebuffer holds a kernel
// density estimate of the samples, computed on the GPU. u_weight: samples
// each splat stands for (a subsample is splatted when the splats would cost
// too many fragments).
uniform float u_weight;
out vec4 o_density;
void main() {
  vec2 c = gl_PointCoord * 2.0 - 1.0;
  float r2 = dot(c, c);
  if (r2 > 1.0) discard;
  o_density = vec4(u_weight * exp(-4.0 * r2), 0.0, 0.0, 0.0);
}
