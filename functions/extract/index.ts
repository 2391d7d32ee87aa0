// Entry of the extract function: settings from the environment, then the handler registered as `extract`.
import { startExtract } from './start.ts';

startExtract(process.env);
