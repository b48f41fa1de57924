#version 330 core
// sims-live density map, pass 2: the density (scaled so that the densest
// region is near 1) through a colour ramp, transparent where there is none.
// The ramp takes its panel's hue: blues under the base's points, oranges to
// dark red under the guided ones (u_warm = 1), as their points are coloured.
uniform sampler2D u_density;
uniform float u_scale;
uniform float u_warm;
in vec2 v_uv;
out vec4 o_color;
vec3 ramp(float t) {
  vec3 a = vec3(0.80, 0.91, 0.97), b = vec3(0.42, 0.68, 0.88), c = vec3(0.36, 0.30, 0.72), d = vec3(0.55, 0.06, 0.36);
  if (u_warm > 0.5)
    a = vec3(0.99, 0.90, 0.80), b = vec3(0.97, 0.66, 0.42), c = vec3(0.84, 0.33, 0.16), d = vec3(0.50, 0.07, 0.10);
  if (t < 0.35) return mix(a, b, t / 0.35);
  if (t < 0.7) return mix(b, c, (t - 0.35) / 0.35);
  return mix(c, d, (t - 0.7) / 0.3);
}
void main() {
  float v = texture(u_density, v_uv).r * u_scale;
  if (v <= 0.002) discard;
  float t = sqrt(clamp(v, 0.0, 1.0));
  o_color = vec4(ramp(t), clamp(v * 25.0, 0.0, 1.0) * 0.85);
}
