import type { Scenario } from './scenarios.js';

export const extraScenarios: readonly Scenario[] = [];
