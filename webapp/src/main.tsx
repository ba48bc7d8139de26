import { render } from 'preact';
import { App } from './components/App';
import { boot } from './actions/session';
import './styles.css';

// For tests/browser/bench.mjs: when the bundle starts running (after download, parse, compile).
performance.mark('starling:start');

const root = document.getElementById('root');
if (root) {
  render(<App />, root);
  void boot();
}
