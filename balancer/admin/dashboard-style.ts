// The dashboard page's stylesheet (inlined into the page; its hash goes into the page's CSP).
export const STYLE = String.raw`
:root {
  --bg: #f4f6f9; --panel: #fff; --text: #1b2330; --muted: #5f6b7b; --line: #e2e7ee; --accent: #2f6fde;
  --up: #177245; --up-bg: #e2f4ea; --warn: #8a5a00; --warn-bg: #fff3d1; --bad: #c02626; --bad-bg: #fde7e7;
  --off: #5f6b7b; --off-bg: #eceff3;
  color-scheme: light dark;
}
@media (prefers-color-scheme: dark) {
  :root {
    --bg: #0e131a; --panel: #161c24; --text: #e4ebf3; --muted: #8c99a9; --line: #27303b; --accent: #5a9cff;
    --up: #43c06a; --up-bg: #13301f; --warn: #e0a82e; --warn-bg: #33290f; --bad: #ff6b63; --bad-bg: #3a1718;
    --off: #9aa6b5; --off-bg: #222a34;
  }
}
* { box-sizing: border-box; }
body {
  margin: 0; background: var(--bg); color: var(--text);
  font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
}
header {
  position: sticky; top: 0; z-index: 1; display: flex; flex-wrap: wrap; align-items: center; gap: 8px 16px;
  padding: 12px 24px; background: var(--panel); border-bottom: 1px solid var(--line);
}
h1 { margin: 0; font-size: 17px; font-weight: 650; display: flex; align-items: center; gap: 10px; }
h1 .logo { width: 22px; height: 22px; }
h1 small { font-size: 12px; font-weight: 400; color: var(--muted); }
.pills { display: flex; flex-wrap: wrap; gap: 6px; margin-left: auto; }
.pill, .state, .chip { display: inline-flex; align-items: center; gap: 6px; border-radius: 999px; white-space: nowrap; }
.pill { padding: 3px 10px; font-size: 12px; font-weight: 500; background: var(--off-bg); color: var(--off); }
.dot { width: 8px; height: 8px; border-radius: 50%; background: currentColor; flex: none; }
.ok { background: var(--up-bg); color: var(--up); }
.warn { background: var(--warn-bg); color: var(--warn); }
.bad { background: var(--bad-bg); color: var(--bad); }
main { max-width: 1240px; margin: 0 auto; padding: 16px 24px 8px; }
.banner {
  display: flex; gap: 10px; align-items: flex-start; margin-bottom: 12px;
  padding: 10px 14px; border-radius: 8px; border: 1px solid currentColor; font-weight: 500;
}
.banner b { font-weight: 700; }
.banner p { margin: 0; }
.banner .detail { font-weight: 400; opacity: .9; word-break: break-word; }
.info { background: var(--off-bg); color: var(--off); }
.tiles { display: grid; grid-template-columns: repeat(auto-fit, minmax(150px, 1fr)); gap: 12px; }
.tile {
  background: var(--panel); border: 1px solid var(--line); border-radius: 10px; padding: 10px 14px; min-width: 0;
}
.label { font-size: 11px; color: var(--muted); text-transform: uppercase; letter-spacing: .05em; }
.value {
  font-size: 24px; font-weight: 600; font-variant-numeric: tabular-nums;
  white-space: nowrap; overflow: hidden; text-overflow: ellipsis;
}
.value small { font-size: 14px; font-weight: 500; color: var(--muted); }
h2 {
  margin: 24px 0 10px; font-size: 12px; font-weight: 600; color: var(--muted);
  text-transform: uppercase; letter-spacing: .06em;
}
.services {
  display: grid; grid-template-columns: repeat(auto-fill, minmax(min(100%, 720px), 1fr)); gap: 12px; align-items: start;
}
.card { background: var(--panel); border: 1px solid var(--line); border-radius: 10px; overflow: hidden; }
.card-head {
  display: flex; flex-wrap: wrap; align-items: center; gap: 8px 16px; padding: 10px 14px;
  border-bottom: 1px solid var(--line);
}
.card-head h3 { margin: 0; font-size: 15px; font-weight: 650; word-break: break-all; }
.name { display: flex; flex-wrap: wrap; align-items: center; gap: 6px; min-width: 0; flex: 1 1 160px; }
.chip { padding: 1px 8px; font-size: 11px; background: var(--off-bg); color: var(--off); }
.chip.ok { background: var(--up-bg); color: var(--up); }
.chip.warn { background: var(--warn-bg); color: var(--warn); }
.chip.bad { background: var(--bad-bg); color: var(--bad); }
.rates { display: flex; align-items: center; gap: 16px; margin-left: auto; }
.stat { display: flex; flex-direction: column; align-items: flex-end; line-height: 1.2; }
.stat b { font-size: 16px; font-weight: 600; font-variant-numeric: tabular-nums; }
.stat span { font-size: 11px; color: var(--muted); }
.bad-text { color: var(--bad); }
.warn-text { color: var(--warn); }
.spark { width: 120px; height: 30px; display: block; }
.spark polyline {
  fill: none; stroke: var(--accent); stroke-width: 1.6; vector-effect: non-scaling-stroke; stroke-linejoin: round;
}
.spark polygon { fill: var(--accent); opacity: .13; }
.spark line { stroke: var(--line); stroke-width: 1; vector-effect: non-scaling-stroke; }
.nowrap { white-space: nowrap; }
.scroll { overflow-x: auto; }
table { width: 100%; border-collapse: collapse; font-size: 13px; }
th {
  padding: 6px 14px; text-align: left; font-size: 11px; font-weight: 500; color: var(--muted);
  text-transform: uppercase; letter-spacing: .04em; border-bottom: 1px solid var(--line); white-space: nowrap;
}
td { padding: 7px 14px; border-bottom: 1px solid var(--line); vertical-align: middle; }
tr:last-child td { border-bottom: 0; }
.num { text-align: right; font-variant-numeric: tabular-nums; }
.mono { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 12px; word-break: break-all; }
.muted { color: var(--muted); }
.state { padding: 1px 9px; font-size: 12px; font-weight: 500; }
.state.draining { background: var(--off-bg); color: var(--off); }
.tags, .narrow { display: block; margin-top: 2px; font-size: 11px; color: var(--muted); }
.narrow { display: none; }
.empty { padding: 14px; color: var(--muted); }
.panel { background: var(--panel); border: 1px solid var(--line); border-radius: 10px; overflow: hidden; }
footer { max-width: 1240px; margin: 0 auto; padding: 12px 24px 24px; color: var(--muted); font-size: 12px; }
footer a { color: inherit; }
.stale main { opacity: .55; }
@media (max-width: 640px) {
  header { padding: 10px 14px; }
  .pills { margin-left: 0; }
  main { padding: 12px 12px 4px; }
  footer { padding: 10px 14px 20px; }
  .opt { display: none; }
  th, td { padding: 6px 10px; }
  .tiles { grid-template-columns: repeat(2, minmax(0, 1fr)); gap: 8px; }
  .value { font-size: 20px; }
  .rates { margin-left: 0; width: 100%; gap: 20px; }
  .spark { width: 110px; margin-left: auto; }
  .narrow { display: block; }
}
`;
