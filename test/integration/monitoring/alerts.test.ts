// The alerts in deploy/monitoring/prometheusrule.yaml, checked by Prometheus' own promtool (Debian
// package, installed by scripts/test-deps.sh): the rules load, and against sample series each alert
// fires when it should, with the labels and rendered annotations a receiver gets, and not otherwise.

import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import YAML from 'yaml';

const PROMTOOL = '/usr/bin/promtool';

interface Rule {
  readonly alert: string;
  readonly annotations: Readonly<Record<string, string>>;
  readonly labels: Readonly<Record<string, string>>;
}

let dir = '';
let rules: readonly Rule[] = [];

beforeAll(async () => {
  const resource = YAML.parse(
    await readFile(new URL('../../../deploy/monitoring/prometheusrule.yaml', import.meta.url), 'utf8'),
  ) as { spec: { groups: { rules: Rule[] }[] } };
  rules = resource.spec.groups.flatMap((group) => group.rules);
  dir = await mkdtemp(join(tmpdir(), 'switchyard-alerts-'));
  // What the Prometheus Operator hands Prometheus: the groups of the resource's spec.
  await writeFile(join(dir, 'rules.yml'), YAML.stringify({ groups: resource.spec.groups }));
});

afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

function promtool(args: readonly string[]): Promise<{ code: number; output: string }> {
  return new Promise((resolve) => {
    execFile(PROMTOOL, args, { cwd: dir, timeout: 30_000 }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
      resolve({ code, output: `${stdout}${stderr}` });
    });
  });
}

/**
 * The alert a receiver gets for `labels`: the rule's labels added, annotations rendered. A template
 * naming a label the alert does not carry renders differently here than in Prometheus (which prints
 * nothing), so such a typo fails the test.
 */
function firing(alert: string, labels: Record<string, string>) {
  const rule = rules.find((candidate) => candidate.alert === alert);
  if (rule === undefined) throw new Error(`no rule ${alert}`);
  const render = (template: string) =>
    template.replace(/\{\{ \$labels\.(\w+) \}\}/g, (_, name: string) => labels[name] ?? '<no value>');
  return {
    exp_labels: { ...labels, ...rule.labels },
    exp_annotations: Object.fromEntries(
      Object.entries(rule.annotations).map(([key, text]) => [key, render(text)]),
    ),
  };
}

describe('alerting rules', () => {
  it('load in Prometheus', async () => {
    const checked = await promtool(['check', 'rules', 'rules.yml']);
    expect(checked.code, checked.output).toBe(0);
    expect(rules.map((rule) => rule.alert)).toEqual([
      'SwitchyardPodsWithoutRouter',
      'SwitchyardRolloutFailed',
      'SwitchyardRouterDisconnected',
    ]);
  });

  it('fire on sample series from both control replicas and the routers, and only then', async () => {
    const web = { namespace: 'shop', name: 'web' };
    const tests = {
      rule_files: ['rules.yml'],
      evaluation_interval: '1m',
      tests: [
        {
          interval: '1m',
          input_series: [
            // Both control replicas export the rollout gauges; `web` gets pods without the router
            // from minute 1, `cart` never.
            ...['control-0', 'control-1'].flatMap((pod) => [
              {
                series: `switchyard_rollout_warnings{namespace="shop",name="web",pod="${pod}"}`,
                values: '0 1x10',
              },
              {
                series: `switchyard_rollout_warnings{namespace="shop",name="cart",pod="${pod}"}`,
                values: '0x10',
              },
              // `web` is rolled back at minute 2; `cart` succeeded.
              {
                series: `switchyard_canary_phase{namespace="shop",name="web",phase="Failed",pod="${pod}"}`,
                values: '0 0 1x8',
              },
              {
                series: `switchyard_canary_phase{namespace="shop",name="cart",phase="Succeeded",pod="${pod}"}`,
                values: '1x10',
              },
            ]),
            // One router loses control at minute 1; another stays connected.
            { series: 'switchyard_control_connected{namespace="shop",pod="web-6d4-a"}', values: '1 0x10' },
            { series: 'switchyard_control_connected{namespace="shop",pod="web-6d4-b"}', values: '1x10' },
          ],
          alert_rule_test: [
            { eval_time: '4m', alertname: 'SwitchyardPodsWithoutRouter', exp_alerts: [] },
            {
              eval_time: '7m',
              alertname: 'SwitchyardPodsWithoutRouter',
              exp_alerts: [firing('SwitchyardPodsWithoutRouter', web)],
            },
            { eval_time: '1m', alertname: 'SwitchyardRolloutFailed', exp_alerts: [] },
            {
              eval_time: '2m',
              alertname: 'SwitchyardRolloutFailed',
              exp_alerts: [firing('SwitchyardRolloutFailed', web)],
            },
            { eval_time: '4m', alertname: 'SwitchyardRouterDisconnected', exp_alerts: [] },
            {
              eval_time: '7m',
              alertname: 'SwitchyardRouterDisconnected',
              exp_alerts: [firing('SwitchyardRouterDisconnected', { namespace: 'shop', pod: 'web-6d4-a' })],
            },
          ],
        },
      ],
    };
    await writeFile(join(dir, 'tests.yml'), YAML.stringify(tests));
    const tested = await promtool(['test', 'rules', 'tests.yml']);
    expect(tested.code, tested.output).toBe(0);
  });
});
