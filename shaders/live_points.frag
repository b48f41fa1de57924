#version 330 core
// sims-live: round, anti-aliased point sprites with a darker rim.
uniform vec4 u_color;
out vec4 o_color;
void main() {
  vec2 c = gl_PointCoord * 2.0 - 1.0;
  float r = length(c);
  float alpha = 1.0 - smoothstep(0.7, 1.0, r);
  if (alpha <= 0.0) discard;
  vec3 rgb = mix(u_color.rgb, u_color.rgb * 0.6, smoothstep(0.4, 0.8, r));
  o_color = vec4(rgb, u_color.a * alpha);
}
