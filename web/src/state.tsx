import { createContext } from 'preact';
import { useContext } from 'preact/hooks';
import type { Project, Session } from './api';

export interface ToastMessage {
  id: number;
  text: string;
  kind: 'info' | 'error';
}

/** What every signed-in page can read: the session, the projects and the header's project. */
export interface ConsoleState {
  session: Session;
  projects: Project[];
  selectedProject: Project | null;
  selectProject: (projectId: string) => void;
  reloadProjects: () => Promise<void>;
  /** Loads the project list into the console state and answers it; rejects on failure. */
  fetchProjects: () => Promise<Project[]>;
  toast: (text: string, kind?: 'info' | 'error') => void;
}

export const ConsoleContext = createContext<ConsoleState | null>(null);

export function useConsole(): ConsoleState {
  const state = useContext(ConsoleContext);
  if (!state) throw new Error('useConsole outside ConsoleContext');
  return state;
}
