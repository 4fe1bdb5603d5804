import { createRoot } from 'react-dom/client';
import { App } from './App';
import { loadConfig } from './config';
import './style.css';

loadConfig().then(({ graphqlUrl }) => {
  createRoot(document.getElementById('root')!).render(<App graphqlUrl={graphqlUrl} />);
});
