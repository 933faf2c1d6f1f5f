import { ApiPropertyOptional } from '@nestjs/swagger';
import { Transform } from 'class-transformer';
import { IsOptional, IsString, MaxLength, MinLength } from 'class-validator';
import { IsAnyUuid } from '../common/query-params.js';

const trim = ({ value }: { value: unknown }) => (typeof value === 'string' ? value.trim() : value);

export class LegacyChatRequestDto {
  /** Trimmed; 1 to 32,000 characters. */
  @Transform(trim)
  @IsString()
  @MinLength(1)
  @MaxLength(32000)
  text: string;

  /** The dossier to continue; omitted: a new dossier. */
  @ApiPropertyOptional({ format: 'uuid' })
  @IsOptional()
  @IsAnyUuid()
  project_id?: string;
}
