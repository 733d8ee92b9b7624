import { installContractRecorder } from './contract-recorder.js';

// A setup file of the integration project (vitest.config.ts): every test file's fetch records the API's answers.
installContractRecorder();
