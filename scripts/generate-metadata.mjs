// Writes src/metadata.ts: what the @nestjs/swagger CLI plugin reads from the DTOs and controllers
// (class-validator rules, types, nullability, doc comments). The app loads it at boot, so the OpenAPI document
// is identical whether the code was compiled by tsc, SWC or jest. Options come from nest-cli.json.
// Type errors are left to `npm run typecheck` and the build: this only reads the program.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import ts from 'typescript';
import { PluginMetadataGenerator } from '@nestjs/cli/lib/compiler/plugins/plugin-metadata-generator.js';
import { ReadonlyVisitor } from '@nestjs/swagger/plugin';

const root = new URL('..', import.meta.url).pathname;
const nestCli = JSON.parse(readFileSync(`${root}nest-cli.json`, 'utf8'));
const swagger = nestCli.compilerOptions.plugins.find((p) => p.name === '@nestjs/swagger');
const target = `${root}src/metadata.ts`;

// The app imports ./metadata.js; give the program a placeholder on a fresh clone.
if (!existsSync(target)) writeFileSync(target, 'export default async () => ({});\n');

const configPath = `${root}tsconfig.build.json`;
const { config } = ts.readConfigFile(configPath, ts.sys.readFile);
const parsed = ts.parseJsonConfigFileContent(config, ts.sys, dirname(configPath));
const program = ts.createProgram({ rootNames: parsed.fileNames, options: parsed.options });

new PluginMetadataGenerator().generate({
  visitors: [new ReadonlyVisitor({ ...swagger.options, pathToSource: `${root}src` })],
  outputDir: `${root}src`,
  filename: 'metadata.ts',
  tsProgramRef: program,
});
