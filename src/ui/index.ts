/**
 * ui/: the dashboard, a Preact page built by Vite (vite.config.ts) into
 * dist/ui and served by the gateway at /ui (src/gateway/dashboard.ts). It
 * reads only the gateway's admin JSON API (api.ts) with the admin key the
 * user gives it (kept in sessionStorage, see auth.ts); all aggregation happens
 * in the event store, the page only draws.
 *
 * May import: preact, uplot, and types (only types) from ../gateway/dashboard-types.ts.
 * Nothing here runs in Node.
 */
import "uplot/dist/uPlot.min.css";
import "./styles.css";
import { h, render } from "preact";
import { App } from "./app.js";

const root = document.getElementById("app");
if (root) render(h(App, {}), root);
