// `npm run migrate:legacy -- [options]` (built: node dist/src/turns-import/import.cli.js): imports the legacy dossiers
// and turns into users, sessions and messages. See docs/legacy-import.md and `--help`.
import { runLegacyImportCommand } from './legacy-import.command.js';

runLegacyImportCommand(process.argv).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`Legacy import failed: ${(error as Error).stack ?? String(error)}\n`);
    process.exitCode = 1;
  },
);
