// A small interactive 3-D point view on a <canvas>: drag to turn, wheel to zoom. No library.
// layers: [{points: [[x,y,z], ...], colour: "#555"}]; every view made by one PointViews turns together.
"use strict";

class PointViews {
  constructor() { this.yaw = 0.6; this.pitch = 0.35; this.zoom = 1.0; this.views = []; }

  add(canvas, layers) {
    const view = { canvas, layers };
    this.views.push(view);
    let drag = null;
    canvas.addEventListener("mousedown", (e) => { drag = [e.clientX, e.clientY]; });
    window.addEventListener("mouseup", () => { drag = null; });
    canvas.addEventListener("mousemove", (e) => {
      if (!drag) return;
      this.yaw += (e.clientX - drag[0]) * 0.01;
      this.pitch = Math.max(-1.5, Math.min(1.5, this.pitch + (e.clientY - drag[1]) * 0.01));
      drag = [e.clientX, e.clientY];
      this.drawAll();
    });
    canvas.addEventListener("wheel", (e) => {
      e.preventDefault();
      this.zoom = Math.max(0.3, Math.min(4, this.zoom * (e.deltaY < 0 ? 1.1 : 0.9)));
      this.drawAll();
    });
    this.draw(view);
  }

  drawAll() { this.views.forEach((v) => this.draw(v)); }

  draw(view) {
    const ctx = view.canvas.getContext("2d");
    const w = view.canvas.width, h = view.canvas.height, s = 0.42 * Math.min(w, h) * this.zoom;
    const cy = Math.cos(this.yaw), sy = Math.sin(this.yaw), cp = Math.cos(this.pitch), sp = Math.sin(this.pitch);
    ctx.clearRect(0, 0, w, h);
    const drawn = [];
    for (const layer of view.layers) {
      for (const p of layer.points) {
        // y up: turn about the vertical axis, then tilt
        const x1 = cy * p[0] + sy * p[2], z1 = -sy * p[0] + cy * p[2];
        const y2 = cp * p[1] - sp * z1, z2 = sp * p[1] + cp * z1;
        drawn.push([w / 2 + s * x1, h / 2 - s * y2, z2, layer.colour]);
      }
    }
    drawn.sort((a, b) => a[2] - b[2]);  // far points first
    for (const [x, y, z, colour] of drawn) {
      ctx.fillStyle = colour;
      ctx.globalAlpha = 0.55 + 0.45 * Math.max(0, Math.min(1, (z + 1) / 2));
      ctx.fillRect(x - 1.2, y - 1.2, 2.4, 2.4);
    }
    ctx.globalAlpha = 1;
  }
}
